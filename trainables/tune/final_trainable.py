"""One final-training run as a Ray Tune trial: its own data, whole training set, test once.

A run's config is the TrainConfig fields plus ``backbone``, ``subject`` (the tested subject),
``inputs`` (what it reads of the EEG, in the ``study train --inputs`` form) and ``protocol``:
``intra`` trains on that subject's training EEG, ``loso`` on every other subject of the final's
subject list. Each trial loads its arrays from the prepared cache itself, so only the data root
(a path every node sees) travels with the trainable, and each builds a fresh model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray import tune

from trainables.things_eeg2.inputs import parse_input_spec
from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.loader import load_run_data

RUN_KEYS = ("backbone", "subject", "protocol")


def final_trial(
    config: dict[str, Any], *, data_root: str, subjects: list[int], cache_dir: str | None
) -> None:
    """The function trainable of ``study final``: load this run's data, then train and test."""
    from trainables.tune.trainable import TrialTimer, nice_trial

    timer = TrialTimer()
    values = dict(config)
    values.pop("cell", None)  # the run's cell name (runs planned before cells existed lack it)
    inputs = parse_input_spec(str(values.pop("inputs", "")))  # older runs: the whole EEG
    backbone, subject, protocol = (values.pop(key) for key in RUN_KEYS)
    data = load_run_data(
        find_layout(Path(data_root)),
        str(backbone),
        int(subject),
        str(protocol),
        subjects,
        Path(cache_dir) if cache_dir else None,
        inputs=inputs,
    )
    nice_trial(values, data, evaluate_test=True, timer=timer)


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
