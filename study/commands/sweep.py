"""`study sweep`: start a study - one Optuna + ASHA sweep per image backbone, on Ray Tune."""

from __future__ import annotations

import argparse
import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from study.arguments import (
    MAX_CONCURRENT,
    MAX_EPOCHS,
    MAX_TRIALS,
    RESOURCE_LIMITS,
    SEED_HIGH,
    check_numbers,
    parse_names,
    parse_subjects,
)
from trainables.common.errors import ConfigError

if TYPE_CHECKING:
    from study.spec import StudySpec

logger = logging.getLogger(__name__)
DEFAULT_STORAGE = Path("studies")


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="study name (a folder under --storage)")
    parser.add_argument(
        "--storage",
        type=Path,
        default=DEFAULT_STORAGE,
        help="folder holding studies; on a cluster, a path every node sees (default: ./studies)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="tune each backbone's decoder with Optuna + ASHA on Ray Tune",
        description=(
            "Start a study: for each backbone, one Ray Tune Tuner with the same search space, "
            "trial budget, seed and scheduler, optimising a validation metric carved from the "
            "training set (the test split is never read). Flags override --config."
        ),
    )
    parser.add_argument("--data", type=Path, help="dataset root (see `study check`)")
    parser.add_argument("--backbones", help="comma-separated backbones, e.g. synclr,aligned_synclr")
    parser.add_argument(
        "--encoders",
        help="comma-separated EEG encoders, e.g. nice,atms,eegnet: one cell per encoder x "
        "backbone (default: no encoders axis; the train settings' model, auto = NICE)",
    )
    parser.add_argument(
        "--inputs",
        help="input variants as a study axis, NAME=SPEC,...: e.g. "
        "'all=default,occ=channels:occipital,early=tmax:0.2/decimate:2' (one cell per variant "
        "x backbone; SPEC keys channels, tmin, tmax, decimate, repetitions; see docs/inputs.md)",
    )
    parser.add_argument(
        "--data-inputs",
        metavar="SPEC",
        help="what every cell reads of the EEG, without an inputs axis (same SPEC form, e.g. "
        "channels:posterior/repetitions:1)",
    )
    add_storage_arguments(parser)
    parser.add_argument("--config", type=Path, help="YAML study settings (see README)")
    parser.add_argument("--space", help="search space: preset name (seed, wide) or YAML file")
    parser.add_argument("--num-samples", type=int, help="trials per backbone")
    parser.add_argument("--max-epochs", type=int, help="epochs of a trial that is never stopped")
    parser.add_argument("--tune-subjects", help="subjects pooled for tuning, e.g. 1 or 1-3")
    parser.add_argument("--val-kind", choices=("concepts", "images"), help="validation split")
    parser.add_argument("--scheduler", choices=("asha", "none"), help="early stopping")
    parser.add_argument("--sampler", choices=("tpe", "random"), help="Optuna sampler")
    parser.add_argument("--grace-period", type=int, help="ASHA: epochs before a trial may stop")
    parser.add_argument("--reduction-factor", type=int, help="ASHA: keep 1/factor per rung")
    parser.add_argument("--objective", choices=("val_top1", "val_loss"), help="what to optimise")
    parser.add_argument(
        "--max-concurrent", type=int, help="trials running at once, over all cells of the study"
    )
    parser.add_argument(
        "--concurrent-cells",
        type=int,
        help="cells (Tuners) swept at the same time (default 0: all; 1: one after another)",
    )
    parser.add_argument("--cpus-per-trial", type=float, help="CPUs per trial")
    parser.add_argument("--gpus-per-trial", type=float, help="GPUs per trial (0.25: 4 share one)")
    parser.add_argument("--max-failures", type=int, help="retries of a crashed trial")
    parser.add_argument("--seed", type=int, help="seed of the sampler and of every trial")
    parser.add_argument("--address", help="join this Ray cluster (default: start a local Ray)")
    parser.add_argument("--wandb", action="store_true", default=None, help="log to W&B")
    parser.add_argument("--wandb-project", help="W&B project")
    parser.add_argument("--wandb-entity", help="W&B entity")
    parser.add_argument("--wandb-tags", help="comma-separated W&B tags")
    parser.set_defaults(func=run)


def _variants_dict(text: str) -> dict[str, Any]:
    from trainables.things_eeg2.inputs import parse_input_variants

    return {name: spec.to_dict() for name, spec in parse_input_variants(text).items()}


def _spec_dict(text: str) -> dict[str, Any]:
    from trainables.things_eeg2.inputs import parse_input_spec

    return parse_input_spec(text).to_dict()


FLAG_TARGETS: dict[str, tuple[str, str, Any]] = {
    # flag dest: (section, field, parser of the flag's value)
    "data": ("data", "root", str),
    "tune_subjects": ("data", "tune_subjects", partial(parse_subjects, flag="--tune-subjects")),
    "val_kind": ("data", "val_kind", str),
    "num_samples": ("sweep", "num_samples", int),
    "max_epochs": ("sweep", "max_epochs", int),
    "scheduler": ("sweep", "scheduler", str),
    "sampler": ("sweep", "sampler", str),
    "grace_period": ("sweep", "grace_period", int),
    "reduction_factor": ("sweep", "reduction_factor", int),
    "objective": ("sweep", "objective", str),
    "max_concurrent": ("sweep", "max_concurrent", int),
    "concurrent_cells": ("sweep", "concurrent_cells", int),
    "cpus_per_trial": ("sweep", "cpus_per_trial", float),
    "gpus_per_trial": ("sweep", "gpus_per_trial", float),
    "max_failures": ("sweep", "max_failures", int),
    "seed": ("sweep", "seed", int),
    "wandb": ("wandb", "enabled", bool),
    "wandb_project": ("wandb", "project", str),
    "wandb_entity": ("wandb", "entity", str),
    "wandb_tags": ("wandb", "tags", partial(parse_names, flag="--wandb-tags")),
    "backbones": ("", "backbones", parse_names),
    "encoders": ("", "encoders", partial(parse_names, flag="--encoders")),
    "space": ("", "space", str),
    "inputs": ("", "inputs", _variants_dict),
    "data_inputs": ("data", "inputs", _spec_dict),
}


FLAG_LIMITS: dict[str, tuple[float, float]] = {
    "num_samples": (1, MAX_TRIALS),
    "max_epochs": (1, MAX_EPOCHS),
    "grace_period": (1, MAX_EPOCHS),
    "reduction_factor": (2, 1000),
    "max_failures": (0, 1000),
    "concurrent_cells": (0, MAX_CONCURRENT),
    "seed": (0, SEED_HIGH),
    **RESOURCE_LIMITS,
}


def spec_from_args(args: argparse.Namespace) -> StudySpec:
    """The study spec: defaults, then the --config YAML, then explicit flags."""
    import yaml

    from study.spec import StudySpec

    check_numbers(args, FLAG_LIMITS)
    raw: dict[str, Any] = {}
    if args.config is not None:
        try:
            raw = yaml.safe_load(Path(args.config).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read {args.config}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{args.config}: invalid YAML ({exc})") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{args.config}: expected a mapping of study settings")
    raw.setdefault("backbones", [])
    raw["name"] = args.name
    for dest, (section, key, convert) in FLAG_TARGETS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        target = raw.setdefault(section, {}) if section else raw
        if not isinstance(target, dict):
            raise ConfigError(f"{args.config}: {section} must be a mapping, got {target!r}")
        target[key] = convert(value)
    if isinstance(raw.get("space"), str) and Path(raw["space"]).suffix in (".yaml", ".yml"):
        raw["space"] = str(Path(raw["space"]).expanduser().resolve())
    return StudySpec.from_dict(raw, source=str(args.config or "study settings"))


def report_outcomes(outcomes: list[Any], objective: str) -> int:
    for outcome in outcomes:
        best = "none" if outcome.best_value is None else f"{outcome.best_value:.4f}"
        print(
            f"[{outcome.key}] {outcome.trials} trials, {outcome.errors} failed, "
            f"best {objective} {best}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    from study.lock import study_lock
    from study.spec import study_dir
    from study.sweep import create_study, run_study

    directory = study_dir(args.storage, args.name)
    wanted = spec_from_args(args)  # flags checked before the lock or any file is made
    with study_lock(directory):
        spec = create_study(wanted, directory)
        logger.info("study '%s' saved in %s", spec.name, directory)
        outcomes = run_study(directory, address=args.address)
    print(f"study '{spec.name}' finished; `study report --name {spec.name}` writes the tables")
    return report_outcomes(outcomes, spec.sweep.objective)
