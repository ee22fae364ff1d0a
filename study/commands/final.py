"""`study final`: train each cell's best config per subject x seed, then test once."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from study.arguments import MAX_EPOCHS, MAX_SEEDS, RESOURCE_LIMITS, check_numbers, parse_subjects
from study.commands.sweep import add_storage_arguments
from trainables.common.errors import ConfigError
from trainables.things_eeg2.protocols import PROTOCOLS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "final",
        help="train the best configs on the whole training set and evaluate the test split once",
        description=(
            "For each backbone x subject x seed, train on the whole training set (no validation) "
            "for the chosen epochs and evaluate the test split once, as one Ray Tune experiment "
            "in <study>/final/runs (resumable; a finished final is reported, not re-run). "
            "Configs come from the study's best trials (epochs = best validation epoch) or from "
            "--configs (an export-best file). intra: train and test on the same subject; loso: "
            "train on the other --subjects, test on the held-out one."
        ),
    )
    add_storage_arguments(parser)
    parser.add_argument("--configs", type=Path, help="export-best YAML (default: the study's best)")
    parser.add_argument("--data", type=Path, help="dataset root (default: the study's)")
    parser.add_argument("--subjects", help="tested subjects, e.g. 1-4 (default: all)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per subject")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="intra", help="subject protocol")
    parser.add_argument("--epochs", type=int, help="override every config's epochs")
    parser.add_argument("--address", help="join this Ray cluster (default: start a local Ray)")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per run")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per run")
    parser.add_argument(
        "--max-concurrent", type=int, help="runs at once (default: as resources allow)"
    )
    parser.set_defaults(func=run)


def _configs(args: argparse.Namespace, directory: Path) -> tuple[dict[str, dict], dict[str, Any]]:
    from study.final import best_entries, read_exported
    from study.spec import SPEC_FILE

    if args.configs is not None:
        return read_exported(args.configs), {"configs_file": str(args.configs.resolve())}
    if not (directory / SPEC_FILE).is_file():
        raise ConfigError(f"{directory}: no study here; give --configs FILE and --data DIR")
    entries = best_entries(directory)
    source = {
        "study": args.name,
        "best_trials": {b: e["trial_id"] for b, e in entries.items()},
        "epochs": "best validation epoch of each best trial",
    }
    return {b: e["config"] for b, e in entries.items()}, source


FLAG_LIMITS: dict[str, tuple[float, float]] = {
    "seeds": (1, MAX_SEEDS),
    "epochs": (1, MAX_EPOCHS),
    **RESOURCE_LIMITS,
}


def run(args: argparse.Namespace) -> int:
    from study.lock import study_lock
    from study.spec import study_dir

    check_numbers(args, FLAG_LIMITS)
    subjects = parse_subjects(args.subjects) if args.subjects else None
    directory = study_dir(args.storage, args.name)
    with study_lock(directory):
        return _run(args, directory, subjects)


def _run(args: argparse.Namespace, directory: Path, subjects: list[int] | None) -> int:
    from study.final import run_final, with_epochs

    configs, source = _configs(args, directory)
    if args.epochs is not None:
        configs = with_epochs(configs, args.epochs)
        source = {**source, "epochs": f"{args.epochs} (--epochs)"}
    runs = run_final(
        directory,
        configs,
        subjects=subjects,
        seeds=args.seeds,
        protocol=args.protocol,
        data_root=args.data,
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        source=source,
    )
    print(f"final runs in {directory / 'final'}; `study report --name {args.name}` tabulates them")
    return print_runs(runs)


def print_runs(runs: list[Any]) -> int:
    """One line per cell (complete runs, mean test top-1); exit status 1 unless all completed."""
    complete = [r for r in runs if r.complete]
    for cell in dict.fromkeys(r.cell for r in runs):
        mine = [r.metrics["test_top1"] for r in complete if r.cell == cell]
        mean = sum(mine) / len(mine) if mine else float("nan")
        print(f"[{cell}] {len(mine)} complete runs, mean test top-1 {mean:.4f}")
    return 0 if len(complete) == len(runs) else 1
