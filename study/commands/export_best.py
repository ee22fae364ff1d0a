"""`study export-best`: each backbone's best sweep configuration as YAML for train and final."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.arguments import MAX_EPOCHS, check_numbers
from study.commands.sweep import add_storage_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-best",
        help="write each backbone's best sweep configuration (for `study train/final`)",
        description=(
            "Write each backbone's best trial (by the study's validation objective) as YAML: its "
            "TrainConfig with epochs = the epoch where validation peaked (the schedule is laid "
            "over that many epochs), the objective's value, that epoch and the trial id. "
            "`study final --configs FILE` and `study train --config FILE --backbone B` read it."
        ),
    )
    add_storage_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="YAML file to write")
    parser.add_argument("--epochs", type=int, help="train for N epochs instead of the best epoch")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.final import export_best
    from study.spec import study_dir

    check_numbers(args, {"epochs": (1, MAX_EPOCHS)})
    out = export_best(study_dir(args.storage, args.name), args.out, epochs=args.epochs)
    print(f"best configurations of study '{args.name}' written to {out}")
    return 0
