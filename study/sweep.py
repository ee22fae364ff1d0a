"""Run (or resume) a study: one Ray Tune Tuner per cell (encoder x backbone, or backbone) with
the same space, budget, seed and scheduler.

The cells' Tuners run at the same time (``sweep.concurrent_cells``; 0: all of them), each in its
own driver task on the study driver's node, sharing the cluster's resources; one slots actor
(``study.slots``) bounds the trials of the whole study to ``sweep.max_concurrent``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from search_spaces import SearchSpace, define_by_run, resolve
from study.provenance import provenance
from study.ray_runtime import fit_checked, init_ray, restore_tuner
from study.results import (
    DONE_FILE,
    SweepOutcome,
    best_trial,
    read_outcome,
    read_synthetic_manifest,
    read_trials,
    record_slot_use,
    slot_use,
)
from study.spec import SPEC_FILE, Cell, DataProtocol, StudySpec, ValidationFacts
from study.trust import check_restore
from trainables.common.atomic import save_json_atomic
from trainables.common.errors import ConfigError, DataError
from trainables.things_eeg2.decoding_data import DecodingData
from trainables.things_eeg2.inputs import InputSpec, resolve_inputs
from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.loader import (
    dataset_images,
    load_dataset_store,
    load_decoding_data,
    load_subject_split,
)
from trainables.things_eeg2.prepared_cache import PreparedEEG, default_cache_dir
from trainables.things_eeg2.splits import carve_validation
from trainables.training.config import TrainConfig
from trainables.tune.shared_data import SharedEEG, SharedEEGData, share_eeg

logger = logging.getLogger(__name__)


def resolved_spaces(spec: StudySpec) -> dict[str, dict[str, Any]]:
    """Each cell's resolved search space (encoder and backbone overrides applied), as saved."""
    return {c.key: resolve(spec.space, c.backbone, c.encoder).to_dict() for c in spec.cells()}


def base_train_config(spec: StudySpec, cell: Cell | None = None) -> TrainConfig:
    """The fixed part of every trial's config: the study's train settings, epochs and seed (and
    the cell's encoder)."""
    values = {**spec.train, "epochs": spec.sweep.max_epochs, "seed": spec.sweep.seed}
    if cell is not None and cell.encoder is not None:
        values["model"] = cell.encoder
    return TrainConfig.from_dict(values, "study train settings")


def _scheduler(spec: StudySpec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if spec.sweep.scheduler == "none":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=spec.sweep.max_epochs,
        grace_period=spec.sweep.grace_period,
        reduction_factor=spec.sweep.reduction_factor,
    )


def _sampler(spec: StudySpec):
    import optuna

    if spec.sweep.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.sweep.seed)
    return optuna.samplers.TPESampler(seed=spec.sweep.seed)


def _search_alg(spec: StudySpec, study_dir: Path, key: str):
    from ray.tune.search.optuna import OptunaSearch

    from study.slots import StudySlotLimiter, slots_name

    space = SearchSpace.from_dict(spec.spaces[key])
    searcher = OptunaSearch(
        space=define_by_run(space),
        metric=spec.sweep.objective,
        mode=spec.sweep.mode,
        sampler=_sampler(spec),
    )
    return StudySlotLimiter(searcher, spec.sweep.max_concurrent, key, slots_name(study_dir))


def _callbacks(spec: StudySpec) -> list[Any]:
    if not spec.wandb.enabled:
        return []
    from ray.air.integrations.wandb import WandbLoggerCallback

    return [
        WandbLoggerCallback(
            project=spec.wandb.project,
            entity=spec.wandb.entity,
            tags=list(spec.wandb.tags),
            group=spec.name,
        )
    ]


def trial_dirname(trial: Any) -> str:
    """Short trial folder names (Ray's default packs the whole config into the name)."""
    return f"trial_{trial.trial_id}"


def _progress(spec: StudySpec, key: str):
    from ray.tune import CLIReporter

    return CLIReporter(
        parameter_columns=sorted(spec.spaces[key]["params"]),
        metric_columns=["epoch", "train_loss", "val_loss", "val_top1", "val_top5"],
        max_report_frequency=30,
        sort_by_metric=True,
    )


def _tuner(spec: StudySpec, study_dir: Path, cell: Cell, trainable: Any):
    from ray import tune

    restored = restore_tuner(study_dir, study_dir / cell.key, trainable, cell.key, "sweep")
    if restored is not None:
        return restored
    return tune.Tuner(
        trainable,
        param_space=base_train_config(spec, cell).to_flat_dict(),
        tune_config=tune.TuneConfig(
            metric=spec.sweep.objective,
            mode=spec.sweep.mode,
            search_alg=_search_alg(spec, study_dir, cell.key),
            scheduler=_scheduler(spec),
            num_samples=spec.sweep.num_samples,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=cell.key,
            storage_path=str(study_dir),
            failure_config=tune.FailureConfig(max_failures=spec.sweep.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            callbacks=_callbacks(spec),
            progress_reporter=_progress(spec, cell.key),
            verbose=1,
        ),
    )


def tuning_data(spec: StudySpec, backbone: str, inputs: InputSpec | None = None) -> DecodingData:
    """Train/validation arrays of the tuning subjects for ``backbone`` (never the test split),
    as ``inputs`` reads them (default: the study's data.inputs)."""
    return load_decoding_data(
        find_layout(Path(spec.data.root)),
        backbone,
        spec.data.tune_subjects,
        val_kind=spec.data.val_kind,
        val_seed=spec.data.val_seed,
        val_count=spec.data.val_count,
        include_test=False,
        cache_dir=Path(spec.data.cache_dir) if spec.data.cache_dir else None,
        inputs=spec.data.inputs if inputs is None else inputs,
    )


def run_cell(spec: StudySpec, study_dir: Path, cell: Cell, data: SharedEEGData) -> SweepOutcome:
    """Sweep one cell to completion (continuing an interrupted sweep when there is one)."""
    from trainables.tune.trainable import make_trainable

    trainable = make_trainable(data, cpus=spec.sweep.cpus_per_trial, gpus=spec.sweep.gpus_per_trial)
    start = time.monotonic()
    tuner = _tuner(spec, study_dir, cell, trainable)
    grid = fit_checked(tuner, study_dir / cell.key, spec.sweep.num_samples)
    seconds = round(time.monotonic() - start, 1)
    return record_outcome(spec, study_dir, cell, len(grid), grid.num_errors, seconds)


def record_outcome(
    spec: StudySpec, study_dir: Path, cell: Cell, trials: int, errors: int, seconds: float
) -> SweepOutcome:
    """Save ``sweep_done.json`` with the best trial read from disk as the report picks it."""
    records = read_trials(study_dir / cell.key)
    best = best_trial(cell.key, records, spec.sweep.objective, spec.sweep.mode)
    outcome = SweepOutcome(
        backbone=cell.backbone,
        trials=trials,
        errors=errors,
        best_value=best.value,
        best_config=best.config,
        seconds=seconds,
        encoder=cell.encoder,
        inputs=cell.inputs,
    )
    save_json_atomic(study_dir / cell.key / DONE_FILE, outcome.to_dict())
    return outcome


def preflight(spec: StudySpec) -> None:
    """Fail before anything starts if the data or a backbone's embedding store is unusable."""
    layout = find_layout(Path(spec.data.root))
    missing = sorted(set(spec.data.tune_subjects) - set(layout.subjects))
    if missing:
        raise DataError(
            f"{layout.eeg_dir}: no EEG for tuning subject(s) {missing} "
            f"(found {sorted(layout.subjects)})"
        )
    images = dataset_images(layout)
    for backbone in spec.backbones:
        load_dataset_store(layout, backbone, images)


def data_protocol(spec: StudySpec) -> DataProtocol:
    """The tuning data's protocol, read as the sweep reads it (this prepares the first tuning
    subject's cache, which the sweep would do next): recorded so reports never reopen the data."""
    data = spec.data
    layout = find_layout(Path(data.root))
    images = dataset_images(layout)
    cache_dir = Path(data.cache_dir) if data.cache_dir else default_cache_dir(layout.root)
    eeg = load_subject_split(layout, data.tune_subjects[0], "train", images.train, cache_dir)
    split = carve_validation(
        images.train.concepts, data.val_kind, seed=data.val_seed, count=data.val_count
    )
    synthetic = read_synthetic_manifest(Path(data.root))
    return DataProtocol(
        release_format=eeg.format,
        channels=list(eeg.ch_names),
        sfreq=float(eeg.sfreq),
        n_times=int(eeg.times.shape[0]),
        times_s=[float(eeg.times[0]), float(eeg.times[-1])],
        train_repetitions_averaged=int(eeg.n_repetitions),
        validation=ValidationFacts(
            kind=split.kind,
            seed=split.seed,
            n_train_images=int(len(split.train_idx)),
            n_val_images=int(len(split.val_idx)),
        ),
        synthetic={k: v for k, v in synthetic.items() if k != "files"} if synthetic else None,
        inputs={
            name or "": _applied(name, inputs, eeg) for name, inputs in _variants(spec).items()
        },
    )


def _applied(name: str | None, inputs: InputSpec, eeg: PreparedEEG) -> dict[str, Any]:
    """What ``inputs`` reads of ``eeg``; settings that do not fit it: a ConfigError naming them."""
    try:
        applied = resolve_inputs(
            inputs, list(eeg.ch_names), eeg.times, eeg.sfreq, n_repetitions=eeg.n_repetitions
        )
    except ConfigError as exc:
        where = "data.inputs" if name is None else f"inputs.{name}"
        raise ConfigError(f"{where} ({inputs.to_text()}): {exc}") from None
    return applied.describe()


def _variants(spec: StudySpec) -> dict[str | None, InputSpec]:
    """Input variant -> its settings (None -> data.inputs in a study without an inputs axis)."""
    return dict(spec.inputs) if spec.inputs else {None: spec.data.inputs}


def check_encoders(spec: StudySpec) -> None:
    """Build each cell's encoder for the shape its input variant reads of the tuning data:
    settings that do not fit (a kernel longer than the window, say) fail here, before anything
    is saved or started."""
    from trainables.models.head import build_model

    protocol = spec.data_protocol
    assert protocol is not None
    for cell in spec.cells():
        config = base_train_config(spec, cell)
        shape = protocol.inputs.get(cell.inputs or "")
        try:
            build_model(
                config.model,
                n_channels=shape["n_channels"] if shape else len(protocol.channels),
                n_times=shape["n_times"] if shape else protocol.n_times,
                sfreq=shape["sfreq"] if shape else protocol.sfreq,
                embedding_dim=8,
                latent_dim=config.latent_dim,
                settings=config.encoder_settings(config.model),
            )
        except ConfigError as exc:
            raise ConfigError(f"cell {cell.key}: {exc}") from None


def create_study(spec: StudySpec, study_dir: Path) -> StudySpec:
    """Validate, resolve each cell's space, record the tuning data's protocol and the
    provenance, save ``study.yaml``."""
    spec.validate()
    if (study_dir / SPEC_FILE).exists():
        raise ConfigError(
            f"{study_dir}: a study named '{spec.name}' exists; continue it with "
            f"`study resume --name {spec.name}` or choose another --name"
        )
    spec.data.root = str(Path(spec.data.root).expanduser().resolve())
    spec.spaces = resolved_spaces(spec)
    for cell in spec.cells():
        base_train_config(spec, cell)
    preflight(spec)
    spec.data_protocol = data_protocol(spec)
    check_encoders(spec)
    spec.provenance = provenance()
    spec.save(study_dir)
    return spec


def run_study(study_dir: Path, address: str | None = None) -> list[SweepOutcome]:
    """Run every cell's sweep, concurrently: finished ones skipped, interrupted ones resumed."""
    from study.slots import start_slots

    started_at, clock = time.time(), time.monotonic()
    spec = StudySpec.load(study_dir)
    preflight(spec)
    for cell in spec.cells():  # refuse a tampered or damaged folder before Ray starts
        if read_outcome(study_dir, cell.key) is None:
            check_restore(study_dir, study_dir / cell.key)
    init_ray(address)
    outcomes: dict[str, SweepOutcome] = {}
    pending = []
    for cell in spec.cells():
        done = read_outcome(study_dir, cell.key)
        if done is None:
            pending.append(cell)
        else:
            logger.info("[%s] sweep finished before (%d trials)", cell.key, done.trials)
            outcomes[cell.key] = done
    slots = start_slots(study_dir, spec.sweep.max_concurrent)
    data = cells_data(spec, pending)
    at_once = spec.sweep.concurrent_cells or len(pending)
    if at_once <= 1 or len(pending) <= 1:
        for cell in pending:
            logger.info("[%s] sweeping: %d trials", cell.key, spec.sweep.num_samples)
            outcomes[cell.key] = run_cell(spec, study_dir, cell, data[cell.key])
    else:
        outcomes.update(_run_concurrently(spec, study_dir, pending, data, at_once))
    _log_slot_peak(slots, spec)
    if pending:
        trials = [t for cell in pending for t in read_trials(study_dir / cell.key)]
        seconds = time.monotonic() - clock
        use = slot_use(trials, started_at, seconds, spec.sweep.max_concurrent)
        record_slot_use(study_dir, use)
        logger.info("this sweep: %s", use.describe())
    return [outcomes[cell.key] for cell in spec.cells()]


def cells_data(spec: StudySpec, cells: list[Cell]) -> dict[str, SharedEEGData]:
    """Each cell's tuning data: per input variant, the EEG put into the object store once and
    shared by its backbones' cells (which differ only in their embeddings)."""
    shared: dict[str | None, SharedEEG] = {}
    by_source: dict[tuple[str, str | None], SharedEEGData] = {}
    data: dict[str, SharedEEGData] = {}
    for cell in cells:
        source = (cell.backbone, cell.inputs)
        if source not in by_source:
            arrays = tuning_data(spec, cell.backbone, spec.inputs_of(cell))
            if cell.inputs not in shared:
                shared[cell.inputs] = share_eeg(arrays)
            by_source[source] = SharedEEGData.from_data(arrays, shared[cell.inputs])
        data[cell.key] = by_source[source]
    return data


def _run_concurrently(
    spec: StudySpec,
    study_dir: Path,
    cells: list[Cell],
    data: dict[str, SharedEEGData],
    at_once: int,
) -> dict[str, SweepOutcome]:
    """Each cell's sweep in a driver task pinned to this node (a worker node's loss must not
    take a cell's driver with it), at most ``at_once`` at a time; a failed cell does not stop
    the others, and the first failure is raised once all have ended."""
    import ray
    from ray.exceptions import RayTaskError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    driver = ray.remote(num_cpus=0, max_retries=0)(cell_driver).options(scheduling_strategy=here)
    level = logging.getLogger("study").getEffectiveLevel()
    queue, running = list(cells), {}
    outcomes: dict[str, SweepOutcome] = {}
    failures: list[BaseException] = []
    logger.info(
        "sweeping %d cells at once (%d trials each, at most %d trials in all at a time): %s",
        min(at_once, len(cells)),
        spec.sweep.num_samples,
        spec.sweep.max_concurrent,
        ", ".join(c.key for c in cells),
    )
    while queue or running:
        while queue and len(running) < at_once:
            cell = queue.pop(0)
            running[driver.remote(study_dir, cell.key, data[cell.key], level)] = cell
        (ready,), _ = ray.wait(list(running), num_returns=1)
        cell = running.pop(ready)
        try:
            outcomes[cell.key] = ray.get(ready)
        except RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, Exception) else exc
            logger.error("[%s] sweep failed: %s", cell.key, str(cause).splitlines()[0])
            failures.append(cause)
    if failures:
        raise failures[0]
    return outcomes


def cell_driver(study_dir: Path, key: str, data: SharedEEGData, level: int) -> SweepOutcome:
    """One cell's sweep, run as a Ray task (the study driver's log level on its stderr)."""
    from study.cli import logging_to_stderr

    with logging_to_stderr(level):
        spec = StudySpec.load(study_dir)
        cell = spec.cell(key)
        logger.info("[%s] sweeping: %d trials", key, spec.sweep.num_samples)
        return run_cell(spec, study_dir, cell, data)


def _log_slot_peak(slots: Any, spec: StudySpec) -> None:
    import ray

    _, peak = ray.get(slots.usage.remote())
    logger.info("at most %d trials ran at once (bound %d)", peak, spec.sweep.max_concurrent)
