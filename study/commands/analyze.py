"""`study analyze`: each cell's best config trained and tested on time windows or regions."""

from __future__ import annotations

import argparse
from pathlib import Path

from study.arguments import MAX_SEEDS, RESOURCE_LIMITS, check_numbers, parse_subjects
from study.commands.final import print_runs
from study.commands.sweep import add_storage_arguments
from trainables.common.errors import ConfigError

FLAG_LIMITS: dict[str, tuple[float, float]] = {"seeds": (1, MAX_SEEDS), **RESOURCE_LIMITS}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="test each cell's best config on time windows or channel regions of the EEG",
        description=(
            "For every cell of the study, its best trial's config (epochs = best validation "
            "epoch) is trained on the whole training set and tested once per subject x seed, on "
            "each time window (--windows) or channel region (--regions) of the EEG, as a final "
            "in <study>/analysis/<windows|regions>/ (resumable). `study report` adds test "
            "accuracy per window or region and the aligned - unaligned paired test for each."
        ),
    )
    add_storage_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--windows",
        metavar="FORM",
        help="sliding:WIDTH:STEP (e.g. sliding:0.1:0.1: 100 ms windows every 100 ms) or "
        "growing:STEP (windows from the epoch's start, STEP s longer each), in seconds",
    )
    what.add_argument(
        "--regions",
        nargs="?",
        const="",
        metavar="LIST",
        help="channel groups, e.g. occipital,parietal (no LIST: every region with channels "
        "in the data: occipital, parietal, temporal, central, frontal)",
    )
    parser.add_argument("--subjects", help="tested subjects, e.g. 1-4 (default: all)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per subject")
    parser.add_argument("--address", help="join this Ray cluster (default: start a local Ray)")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per run")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per run")
    parser.add_argument(
        "--max-concurrent", type=int, help="runs at once (default: as resources allow)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.analyze import run_analysis
    from study.lock import study_lock
    from study.spec import SPEC_FILE, study_dir

    check_numbers(args, FLAG_LIMITS)
    subjects = parse_subjects(args.subjects) if args.subjects else None
    directory = study_dir(args.storage, args.name)
    if not (directory / SPEC_FILE).is_file():
        raise ConfigError(f"{directory}: no study here (check --name and --storage)")
    kind, text = (
        ("windows", args.windows) if args.windows is not None else ("regions", args.regions)
    )
    with study_lock(directory):
        runs = run_analysis(
            directory,
            kind,
            text,
            subjects=subjects,
            seeds=args.seeds,
            address=args.address,
            cpus_per_trial=args.cpus_per_trial,
            gpus_per_trial=args.gpus_per_trial,
            max_concurrent=args.max_concurrent,
        )
    folder = Path(directory) / "analysis" / kind
    print(f"{kind} analysis in {folder}; `study report --name {args.name}` tabulates it")
    return print_runs(runs)
