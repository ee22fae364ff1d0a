"""`study resume`: continue an interrupted study where it stopped."""

from __future__ import annotations

import argparse

from study.commands.sweep import add_storage_arguments, report_outcomes


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resume",
        help="continue an interrupted study",
        description=(
            "Finish every backbone's sweep of a study whose driver was stopped or killed: "
            "finished trials are kept, unfinished ones continue from their last checkpoint, and "
            "the Optuna searcher continues from its saved state."
        ),
    )
    add_storage_arguments(parser)
    parser.add_argument("--address", help="join this Ray cluster (default: start a local Ray)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.lock import study_lock
    from study.spec import StudySpec, study_dir
    from study.sweep import run_study

    directory = study_dir(args.storage, args.name)
    spec = StudySpec.load(directory)
    with study_lock(directory):
        outcomes = run_study(directory, address=args.address)
    return report_outcomes(outcomes, spec.sweep.objective)
