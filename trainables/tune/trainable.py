"""Ray Tune function trainable wrapping ``trainables.training.loop.train``.

The DecodingData goes into Ray's object store once through ``tune.with_parameters``; every trial
reads it zero-copy. Each epoch is one ``tune.report``; checkpoint directories (every
``checkpoint_every`` epochs and at the end) travel with the report, and a restarted or restored
trial resumes from ``tune.get_checkpoint()`` with the model, optimizer, schedulers and RNG states.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from trainables.things_eeg2.decoding_data import DecodingData
from trainables.training.checkpoints import STATE_FILE
from trainables.training.config import TrainConfig
from trainables.training.loop import train
from trainables.tune.shared_data import SharedEEGData


class RayReporter:
    """``train()`` reporter: ``tune.report`` per epoch, with the checkpoint directory when one."""

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        if checkpoint is None:
            tune.report(metrics)
            return
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint)))
        shutil.rmtree(checkpoint, ignore_errors=True)


def nice_trial(
    config: dict[str, Any],
    data: DecodingData | SharedEEGData,
    evaluate_test: bool = False,
    reporter: RayReporter | None = None,
) -> None:
    """The function trainable: ``config`` holds TrainConfig fields (the searched ones and fixed)."""
    train_config = TrainConfig.from_dict(dict(config))
    if isinstance(data, SharedEEGData):
        data = data.resolve()
    with tempfile.TemporaryDirectory(prefix="nice-trial-") as scratch:
        resume_from = None
        restored = tune.get_checkpoint()
        if restored is not None:
            resume_from = Path(restored.to_directory(str(Path(scratch) / "restored"))) / STATE_FILE
        train(
            train_config,
            data,
            report=reporter or RayReporter(),
            checkpoint_dir=Path(scratch) / "out",
            resume_from=resume_from,
            evaluate_test=evaluate_test,
        )


def make_trainable(
    data: DecodingData | SharedEEGData,
    *,
    evaluate_test: bool = False,
    cpus: float = 1.0,
    gpus: float = 0.0,
    reporter: RayReporter | None = None,
) -> Any:
    """The trainable to pass to ``tune.Tuner``: data in the object store, resources per trial."""
    trainable = tune.with_parameters(
        nice_trial, data=data, evaluate_test=evaluate_test, reporter=reporter
    )
    return tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus})
