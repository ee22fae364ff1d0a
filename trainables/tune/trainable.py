"""Ray Tune function trainable wrapping ``trainables.training.loop.train``.

The DecodingData goes into Ray's object store once through ``tune.with_parameters``; every trial
reads it zero-copy. Each epoch is one ``tune.report``; checkpoint directories (every
``checkpoint_every`` epochs and at the end) travel with the report, and a restarted or restored
trial resumes from ``tune.get_checkpoint()`` with the model, optimizer, schedulers and RNG states.

Every reported row carries ``node_id``, the Ray node the trial ran on; the first row of each run
(fresh, reused actor or restarted) also carries where its start-up went (``STARTUP_KEYS``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
from ray import tune

from trainables.things_eeg2.decoding_data import DecodingData
from trainables.training.checkpoints import STATE_FILE
from trainables.training.config import TrainConfig
from trainables.training.loop import Reporter, train
from trainables.tune.shared_data import SharedEEGData

NODE_KEY = "node_id"
STARTUP_KEYS = (
    "started_at",  # wall-clock time (time.time()) the trial function was entered
    "startup_data_s",  # resolving the data from the object store
    "startup_restore_s",  # fetching the checkpoint to resume from (0 for a fresh run)
    "startup_first_report_s",  # entry to the first report: the above + model build + epoch 1
)


class RayReporter:
    """``train()`` reporter: ``tune.report`` per epoch, with the checkpoint directory when one."""

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        if checkpoint is None:
            tune.report(metrics)
            return
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint)))
        shutil.rmtree(checkpoint, ignore_errors=True)


class TrialTimer:
    """Marks the phases of a trial's start-up; ``tag`` adds them (once) and the node to rows."""

    def __init__(self) -> None:
        self.entered = time.time()
        self._mark = time.perf_counter()
        self._start = self._mark
        self.parts: dict[str, float] = {"started_at": self.entered}
        self.node_id = ray.get_runtime_context().get_node_id()

    def lap(self, key: str) -> None:
        now = time.perf_counter()
        self.parts[key] = round(now - self._mark, 4)
        self._mark = now

    def tag(self, report: Reporter) -> Reporter:
        def tagged(metrics: dict[str, float], checkpoint: Path | None) -> None:
            row: dict[str, Any] = {**metrics, NODE_KEY: self.node_id}
            if self.parts:
                self.parts["startup_first_report_s"] = round(time.perf_counter() - self._start, 4)
                row.update(self.parts)
                self.parts = {}
            report(row, checkpoint)

        return tagged


def nice_trial(
    config: dict[str, Any],
    data: DecodingData | SharedEEGData,
    evaluate_test: bool = False,
    reporter: RayReporter | None = None,
    timer: TrialTimer | None = None,
) -> None:
    """The function trainable: ``config`` holds TrainConfig fields (the searched ones and fixed).

    ``timer``: one started by a caller that loads the data itself (the final trainable).
    """
    timer = timer or TrialTimer()
    train_config = TrainConfig.from_dict(dict(config))
    if isinstance(data, SharedEEGData):
        data = data.resolve()
    timer.lap("startup_data_s")
    with tempfile.TemporaryDirectory(prefix="nice-trial-") as scratch:
        resume_from = None
        restored = tune.get_checkpoint()
        if restored is not None:
            resume_from = Path(restored.to_directory(str(Path(scratch) / "restored"))) / STATE_FILE
        timer.lap("startup_restore_s")
        train(
            train_config,
            data,
            report=timer.tag(reporter or RayReporter()),
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
