"""Final training with each cell's best configuration: export it, train on the whole training
set for every cell x subject x seed, and evaluate the test split once. A cell is an encoder with
a backbone (``<encoder>+<backbone>``), or a backbone in a study without an encoders axis.

Epochs: a best configuration's ``epochs`` is its trial's best epoch - the epoch where the
validation objective peaked (early stopping chosen on validation, never on test) - and the
learning-rate schedule (warmup + cosine) is laid over that many epochs. ``with_epochs`` overrides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from study.provenance import provenance
from study.ray_runtime import fit_checked, init_ray, restore_tuner
from study.results import (
    FINAL_DIR,
    FINAL_RUNS,
    FINAL_SPEC,
    FinalRun,
    best_trial,
    load_final,
    read_trials,
)
from study.spec import SPEC_FILE, DataSettings, StudySpec, parse_cell_key, split_cell_key
from study.trust import check_restore
from trainables.common.atomic import atomic_write
from trainables.common.errors import ConfigError, DataError
from trainables.things_eeg2.inputs import DEFAULT_TEXT, InputSpec
from trainables.things_eeg2.layout import DataLayout, find_layout
from trainables.things_eeg2.loader import load_run_data
from trainables.things_eeg2.protocols import PROTOCOLS, train_subjects
from trainables.training.config import TrainConfig, train_values

logger = logging.getLogger(__name__)
SETTINGS = ("protocol", "seeds", "subjects", "configs")


def best_entries(study_dir: Path) -> dict[str, dict[str, Any]]:
    """Per cell: the best trial's config (epochs = best epoch), objective, epoch, trial id."""
    spec = StudySpec.load(study_dir)
    objective, mode = spec.sweep.objective, spec.sweep.mode
    entries = {}
    for cell in spec.cells():
        best = best_trial(cell.key, read_trials(Path(study_dir) / cell.key), objective, mode)
        if best.trial is None:
            raise DataError(
                f"{Path(study_dir) / cell.key}: no trial reported {objective}; "
                f"run or resume the sweep first"
            )
        values = {**train_values(best.config), "epochs": best.epoch}
        entries[cell.key] = {
            "config": TrainConfig.from_dict(values).to_dict(),
            objective: best.value,
            "best_epoch": best.epoch,
            "trial_id": best.trial.trial_id,
        }
    return entries


def best_configs(study_dir: Path) -> dict[str, dict[str, Any]]:
    """Cell -> TrainConfig dict of its best sweep trial, trained for its best epoch."""
    return {backbone: entry["config"] for backbone, entry in best_entries(study_dir).items()}


def export_best(study_dir: Path, out: Path, epochs: int | None = None) -> Path:
    """Write the best configurations as YAML (``study train`` and ``study final`` read it)."""
    spec = StudySpec.load(study_dir)
    entries = best_entries(study_dir)
    if epochs is not None:
        for backbone, config in with_epochs(best_configs(study_dir), epochs).items():
            entries[backbone]["config"] = config
    document = {"study": spec.name, "objective": spec.sweep.objective, "backbones": entries}
    text = yaml.safe_dump(document, sort_keys=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: tmp.write_text(text))
    return out


def read_exported(path: Path) -> dict[str, dict[str, Any]]:
    """Cell (or backbone) -> TrainConfig dict from an ``export-best`` file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from exc
    backbones = raw.get("backbones") if isinstance(raw, dict) else None
    if not isinstance(backbones, dict) or not backbones:
        raise ConfigError(f"{path}: expected `backbones: {{name: {{config: ...}}}}` (export-best)")
    configs = {}
    for backbone, entry in backbones.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise ConfigError(f"{path}: backbone '{backbone}' has no `config` mapping")
        config = TrainConfig.from_dict(entry["config"], f"{path}: {backbone}").to_dict()
        configs[str(backbone)] = config
    return configs


def load_train_config(path: Path, backbone: str) -> TrainConfig:
    """A TrainConfig file, or ``backbone``'s config from an ``export-best`` file."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            raw = None  # TrainConfig.load reports the problem
        if isinstance(raw, dict) and "backbones" in raw:
            configs = read_exported(path)
            if backbone not in configs:
                raise ConfigError(f"{path}: no config for backbone '{backbone}' ({list(configs)})")
            return TrainConfig.from_dict(configs[backbone])
    return TrainConfig.load(path)


def with_epochs(configs: dict[str, dict[str, Any]], epochs: int) -> dict[str, dict[str, Any]]:
    """The same configs trained for ``epochs`` (schedule laid over them)."""
    return {b: TrainConfig.from_dict({**c, "epochs": epochs}).to_dict() for b, c in configs.items()}


def final_runs(
    configs: dict[str, dict[str, Any]],
    subjects: Sequence[int],
    seeds: Sequence[int],
    protocol: str,
    inputs: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One trial config per cell x tested subject x seed: TrainConfig fields + run keys
    (``inputs``: each cell's input settings as text; default: the whole EEG)."""
    return [
        {
            **TrainConfig.from_dict({**config, "seed": seed}).to_flat_dict(),
            "cell": key,
            "backbone": split_cell_key(key)[1],
            "inputs": (inputs or {}).get(key, DEFAULT_TEXT),
            "subject": subject,
            "protocol": protocol,
        }
        for key, config in configs.items()
        for subject in subjects
        for seed in seeds
    ]


def run_dirname(trial: Any) -> str:
    """Readable trial folders: ``<cell>_sub-NN_seedS``."""
    config = trial.config
    cell = config.get("cell", config["backbone"])  # runs planned before cells existed lack it
    return f"{cell}_sub-{int(config['subject']):02d}_seed{config['seed']}"


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    values = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not values or len(set(values)) != len(values) or min(values) < 0:
        raise ConfigError(f"seeds must be a count >= 1 or distinct seeds >= 0, got {seeds!r}")
    return values


def _subject_list(layout: DataLayout, subjects: Sequence[int] | None) -> list[int]:
    chosen = sorted(set(subjects)) if subjects is not None else list(layout.subjects)
    missing = [s for s in chosen if s not in layout.subjects]
    if not chosen or missing:
        raise DataError(
            f"{layout.eeg_dir}: no EEG for subject(s) {missing or chosen} "
            f"(found {list(layout.subjects)})"
        )
    return chosen


def _study_spec(study_dir: Path, configs: dict[str, dict[str, Any]], data_root: Path | None):
    """The study's spec; a configs-only final gets a new one (cells, no search spaces),
    which the caller saves only once the data passed the checks."""
    if (study_dir / SPEC_FILE).is_file():
        return StudySpec.load(study_dir)
    if data_root is None:
        raise ConfigError(f"{study_dir}: no study here; configs-only final runs need --data")
    cells = [split_cell_key(key) for key in configs]
    with_encoders = all(encoder is not None for encoder, _ in cells)
    spec = StudySpec(
        name=study_dir.name,
        backbones=list(dict.fromkeys(backbone for _, backbone in cells)),
        encoders=list(dict.fromkeys(e for e, _ in cells if e)) if with_encoders else [],
        data=DataSettings(root=str(Path(data_root).expanduser().resolve())),
        provenance=provenance(),
    )
    spec.validate()
    return spec


def _check_same_settings(path: Path, settings: dict[str, Any], root: Path) -> None:
    saved = yaml.safe_load(path.read_text()) or {}
    compared = [*SETTINGS, *(["inputs"] if "inputs" in settings else [])]
    changed = [key for key in compared if saved.get(key) != settings[key]]
    data = saved.get("data") if isinstance(saved.get("data"), dict) else {}
    if data.get("root") not in (None, str(root)):  # older finals did not record it
        changed.append(f"data ({data['root']})")
    if changed:
        raise ConfigError(
            f"{path}: final runs with other {', '.join(changed)} exist; "
            f"use the same settings to resume, or another study name"
        )


def _finished(final_dir: Path, runs: list[dict[str, Any]]) -> list[FinalRun] | None:
    """The final's runs when every planned run completed, else None."""
    if not (final_dir / FINAL_RUNS).is_dir():
        return None
    done = load_final(final_dir).runs
    complete = {(r.cell, r.subject, r.seed) for r in done if r.complete}
    planned = {(r["cell"], r["subject"], r["seed"]) for r in runs}
    return done if planned <= complete else None


def run_space(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each key's values over the runs, as choices: the listed runs are exactly its points."""
    from ray import tune

    return {key: tune.choice(list(dict.fromkeys(run[key] for run in runs))) for key in runs[0]}


def _tuner(final_dir: Path, runs: list[dict[str, Any]], trainable: Any, max_concurrent: int):
    from ray import tune
    from ray.tune import CLIReporter
    from ray.tune.search import BasicVariantGenerator

    study_dir = final_dir.parent
    restored = restore_tuner(study_dir, final_dir / FINAL_RUNS, trainable, "final", "final runs")
    if restored is not None:
        return restored
    return tune.Tuner(
        trainable,
        param_space=run_space(runs),
        tune_config=tune.TuneConfig(
            search_alg=BasicVariantGenerator(points_to_evaluate=runs),
            num_samples=len(runs),
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=run_dirname,
        ),
        run_config=tune.RunConfig(
            name=FINAL_RUNS,
            storage_path=str(final_dir),
            failure_config=tune.FailureConfig(max_failures=2),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            progress_reporter=CLIReporter(
                parameter_columns=["cell", "subject", "seed"],
                metric_columns=["epoch", "train_loss", "test_top1", "test_top5"],
                max_report_frequency=30,
            ),
            verbose=1,
        ),
    )


def run_final(
    study_dir: Path,
    configs: dict[str, dict[str, Any]],
    *,
    subjects: list[int] | None,
    seeds: int | list[int],
    protocol: str = "intra",
    data_root: Path | None = None,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_concurrent: int | None = None,
    source: dict[str, Any] | None = None,
    folder: str = FINAL_DIR,
    inputs: dict[str, InputSpec] | None = None,
) -> list[FinalRun]:
    """Train and test every cell x subject x seed on Ray (resumed; a finished final is kept).

    One Tuner runs exactly the planned runs: BasicVariantGenerator evaluates them as its points
    (``num_samples`` = their count, so nothing is sampled); each trial loads its own data.

    ``subjects`` (default: all of the dataset's) are the tested subjects and, for ``loso``, the
    pool each fold trains on without its held-out subject. ``source`` records where the configs
    came from in ``final/final.yaml``. ``folder`` (under the study) and ``inputs`` (per key,
    instead of its cell's) serve analyses, which are finals over derived cells.
    """
    study_dir = Path(study_dir).expanduser().resolve()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not configs:
        raise ConfigError("no configs to train")
    configs = {key: _cell_config(key, config) for key, config in configs.items()}
    new_study = not (study_dir / SPEC_FILE).is_file()
    spec = _study_spec(study_dir, configs, data_root)
    root = Path(data_root or spec.data.root).expanduser().resolve()
    layout = find_layout(root)
    subjects = _subject_list(layout, subjects)
    seed_list = _seed_list(seeds)
    for subject in subjects:
        train_subjects(protocol, subject, subjects)
    read = {key: (inputs or {}).get(key) or cell_inputs(spec, key) for key in configs}
    texts = {key: value.to_text() for key, value in read.items()}
    runs = final_runs(configs, subjects, seed_list, protocol, texts)
    final_dir = study_dir / folder
    settings = {"protocol": protocol, "seeds": seed_list, "subjects": subjects, "configs": configs}
    if inputs:
        settings["inputs"] = texts
    spec_path = final_dir / FINAL_SPEC
    document = None
    if spec_path.is_file():
        _check_same_settings(spec_path, settings, root)
    else:  # the preflight: stores and the first run's data load before anything is saved
        _check_stores(layout, configs)
        cache_dir = Path(spec.data.cache_dir) if spec.data.cache_dir else None
        first = next(iter(configs))
        data = load_run_data(
            layout,
            split_cell_key(first)[1],
            subjects[0],
            protocol,
            subjects,
            cache_dir,
            inputs=read[first],
        )
        document = {
            **settings,
            "inputs": texts,
            "data": {**data.protocol, "root": str(root)},
            "source": source or {"configs": "passed to run_final"},
            "provenance": provenance(),
        }
    if new_study:
        spec.save(study_dir)
    if document is None:
        finished = _finished(final_dir, runs)
        if finished is not None:
            logger.info("[final] finished before: %d runs in %s", len(finished), final_dir)
            return finished
    else:
        final_dir.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(document, sort_keys=False)
        atomic_write(spec_path, lambda tmp: tmp.write_text(text))
    from trainables.tune.final_trainable import make_final_trainable

    check_restore(study_dir, final_dir / FINAL_RUNS)  # before Ray starts
    init_ray(address)
    cache_dir = Path(spec.data.cache_dir) if spec.data.cache_dir else None
    trainable = make_final_trainable(
        root, subjects, cache_dir, cpus=cpus_per_trial, gpus=gpus_per_trial
    )
    logger.info("[final] %d runs: train on the whole training set, test once", len(runs))
    tuner = _tuner(final_dir, runs, trainable, max_concurrent or 0)
    fit_checked(tuner, final_dir / FINAL_RUNS, len(runs))
    return load_final(final_dir).runs


def cell_inputs(spec: StudySpec, key: str) -> InputSpec:
    """What the cell ``key`` reads of the EEG: its variant of the study's inputs axis, or the
    study's data.inputs for a key without one."""
    variant = parse_cell_key(key)[2]
    if variant is None:
        return spec.data.inputs
    if variant not in spec.inputs:
        known = ", ".join(spec.inputs) or "none"
        raise ConfigError(f"{key}: study '{spec.name}' has no input variant {variant!r} ({known})")
    return spec.inputs[variant]


def _cell_config(key: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` validated; a cell key's encoder must be the one its config trains."""
    values = TrainConfig.from_dict(dict(config), f"config of {key}").to_dict()
    encoder = split_cell_key(key)[0]
    if encoder is not None and values["model"] != encoder:
        raise ConfigError(f"config of {key}: model is {values['model']!r}, not {encoder!r}")
    return values


def _check_stores(layout: DataLayout, configs: dict[str, dict[str, Any]]) -> None:
    """Every cell's backbone's embedding store must match the dataset's image lists."""
    from trainables.things_eeg2.loader import dataset_images, load_dataset_store

    images = dataset_images(layout)
    for backbone in dict.fromkeys(split_cell_key(key)[1] for key in configs):
        load_dataset_store(layout, backbone, images)
