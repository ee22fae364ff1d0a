"""Read final training from a study folder: ``final/final.yaml`` and the runs of ``final/runs``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from study.results.trials import TrialRecord, last_checkpoint, read_trials
from trainables.common.errors import DataError
from trainables.common.validation import validated

FINAL_DIR = "final"
FINAL_SPEC = "final.yaml"
FINAL_RUNS = "runs"
ANALYSIS_DIR = "analysis"  # <study>/analysis/<kind>/: finals over windows or regions
SIMILARITY_FILE = "test_similarity.npy"
RUN_KEYS = ("backbone", "subject", "seed")


@dataclass
class FinalRun:
    """One final-training run: a cell trained for one subject and seed, tested once."""

    backbone: str
    subject: int
    seed: int
    trial: TrialRecord
    cell: str = ""  # the cell key; "" (runs planned before cells existed): the backbone

    def __post_init__(self) -> None:
        self.cell = self.cell or self.backbone

    @property
    def encoder(self) -> str:
        """The encoder the run trained (its config's ``model``; ``auto`` in older runs)."""
        return str(self.trial.config.get("model", "auto"))

    @property
    def metrics(self) -> dict[str, Any]:
        """The run's last result row (which holds the test metrics)."""
        return {} if self.trial.history.empty else self.trial.history.iloc[-1].to_dict()

    @property
    def complete(self) -> bool:
        value = self.metrics.get("test_top1")
        return value is not None and bool(np.isfinite(value))

    @property
    def similarity_path(self) -> Path | None:
        """``test_similarity.npy`` of the run's last checkpoint, if it was written."""
        checkpoint = last_checkpoint(self.trial.logdir)
        path = checkpoint / SIMILARITY_FILE if checkpoint is not None else None
        return path if path is not None and path.is_file() else None

    def similarity(self) -> np.ndarray | None:
        """The (test EEG x test image) cosine-similarity matrix, or None if absent."""
        path = self.similarity_path
        if path is None:
            return None
        try:
            matrix = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            reason = " ".join(str(exc).split())
            raise DataError(f"{path}: not a readable .npy similarity matrix ({reason})") from None
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
            raise DataError(f"{path}: expected a square similarity matrix, got {matrix.shape}")
        if matrix.dtype.kind not in "fiu":
            raise DataError(f"{path}: expected a numeric similarity matrix, got {matrix.dtype}")
        matrix = np.asarray(matrix, dtype=np.float64)
        if not np.isfinite(matrix).all():
            raise DataError(f"{path}: the similarity matrix holds NaN or infinite values")
        return matrix


@dataclass
class FinalSpec:
    """``final/final.yaml`` as the report reads it (other keys, such as ``source``, are kept)."""

    protocol: str = "intra"
    seeds: list[int] = field(default_factory=list)
    subjects: list[int] = field(default_factory=list)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinalDataFacts:
    """The typed facts of final.yaml's ``data`` that the protocol block computes with."""

    n_channels: int | None = None
    n_times: int | None = None
    times_s: list[float] | None = None


@dataclass
class FinalResults:
    """What final training ran (final.yaml) and its runs."""

    protocol: str
    seeds: list[int]
    subjects: list[int]
    configs: dict[str, dict[str, Any]]
    data: dict[str, Any]
    runs: list[FinalRun]
    provenance: dict[str, Any]

    @property
    def complete_runs(self) -> list[FinalRun]:
        return [run for run in self.runs if run.complete]

    @property
    def cells(self) -> list[str]:
        """Cells with at least one complete run, in final.yaml's order."""
        done = {run.cell for run in self.complete_runs}
        ordered = [key for key in self.configs if key in done]
        return ordered + sorted(done - set(ordered))


def load_final(final_dir: Path) -> FinalResults:
    """Read ``final/final.yaml`` and the runs of ``final/runs``."""
    path = Path(final_dir) / FINAL_SPEC
    try:
        raw = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    spec = validated(FinalSpec, raw, str(path), DataError)
    validated(FinalDataFacts, spec.data, f"{path}: data", DataError)
    runs = [_final_run(trial) for trial in read_trials(Path(final_dir) / FINAL_RUNS)]
    return FinalResults(
        protocol=spec.protocol,
        seeds=spec.seeds,
        subjects=spec.subjects,
        configs=spec.configs,
        data=spec.data,
        runs=sorted(runs, key=lambda r: (r.cell, r.subject, r.seed)),
        provenance=spec.provenance,
    )


def _final_run(trial: TrialRecord) -> FinalRun:
    """A final run from its trial; its config must name a backbone, subject and seed."""
    missing = [key for key in RUN_KEYS if key not in trial.config]
    if missing:
        raise DataError(f"{trial.logdir}: final run config lacks {', '.join(missing)}")
    backbone, subject, seed = (trial.config[key] for key in RUN_KEYS)
    if not isinstance(backbone, str) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in (subject, seed)
    ):
        raise DataError(
            f"{trial.logdir}: final run config needs a backbone name and integer subject and "
            f"seed, got {backbone!r}, {subject!r}, {seed!r}"
        )
    cell = trial.config.get("cell", backbone)
    if not isinstance(cell, str) or not cell:
        raise DataError(f"{trial.logdir}: final run config has an invalid cell {cell!r}")
    return FinalRun(backbone=backbone, subject=subject, seed=seed, trial=trial, cell=cell)
