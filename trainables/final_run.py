"""One final-training run as a Ray Tune trial: its own data, whole training set, test once.

A run's config is the TrainConfig fields plus ``backbone``, ``subject`` (the tested subject) and
``protocol``: ``intra`` trains on that subject's training EEG, ``loso`` on every other subject of
the final's subject list. Each trial loads its arrays from the prepared cache itself, so only the
data root (a path every node sees) travels with the trainable, and each builds a fresh model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray import tune

from trainables.dataset import load_decoding_data
from trainables.decoding_data import DecodingData
from trainables.errors import ConfigError
from trainables.layout import DataLayout, find_layout
from trainables.splits import leave_one_subject_out

PROTOCOLS = ("intra", "loso")
RUN_KEYS = ("backbone", "subject", "protocol")


def train_subjects(protocol: str, subject: int, subjects: Sequence[int]) -> list[int]:
    """Who a run trains on: the tested subject (intra) or all the others (loso)."""
    if protocol == "intra":
        return [subject]
    if protocol != "loso":
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    folds = {fold.eval_subject: fold for fold in leave_one_subject_out(subjects)}
    if subject not in folds:
        raise ConfigError(f"subject {subject} is not among the final's subjects {list(subjects)}")
    return folds[subject].train_subjects


def load_run_data(
    layout: DataLayout,
    backbone: str,
    subject: int,
    protocol: str,
    subjects: Sequence[int],
    cache_dir: Path | None = None,
) -> DecodingData:
    """Whole training set (no validation) of the run's training subjects, test of ``subject``."""
    fit = train_subjects(protocol, subject, subjects)
    return load_decoding_data(
        layout,
        backbone,
        [subject],
        val_kind=None,
        include_test=True,
        train_subjects=None if protocol == "intra" else fit,
        cache_dir=cache_dir,
    )


def final_trial(
    config: dict[str, Any], *, data_root: str, subjects: list[int], cache_dir: str | None
) -> None:
    """The function trainable of ``study final``: load this run's data, then train and test."""
    from trainables.ray_trainable import nice_trial

    values = dict(config)
    backbone, subject, protocol = (values.pop(key) for key in RUN_KEYS)
    data = load_run_data(
        find_layout(Path(data_root)),
        str(backbone),
        int(subject),
        str(protocol),
        subjects,
        Path(cache_dir) if cache_dir else None,
    )
    nice_trial(values, data, evaluate_test=True)


def make_final_trainable(
    data_root: Path,
    subjects: Sequence[int],
    cache_dir: Path | None = None,
    *,
    cpus: float = 1.0,
    gpus: float = 0.0,
) -> Any:
    """The trainable to pass to ``tune.Tuner`` for final runs, with its resources per trial."""
    trainable = tune.with_parameters(
        final_trial,
        data_root=str(data_root),
        subjects=sorted(int(s) for s in subjects),
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    return tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus})
