"""A real Ray Tune run of the NICE trainable, including a crash and restore from checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ray import tune

from tests.helpers.toy_data import toy_data
from trainables.training.checkpoints import load_checkpoint
from trainables.training.config import TrainConfig
from trainables.training.loop import train
from trainables.tune.trainable import RayReporter, make_trainable

DATA = {"n_train": 96, "n_val": 32, "n_subjects": 1}
CONFIG = {
    "epochs": 4,
    "batch_size": 32,
    "checkpoint_every": 2,
    "warmup_encoder": 1,
    "warmup_projector": 1,
    "latent_dim": 16,
    "seed": 3,
}


class CrashOnce(RayReporter):
    """Reports, then fails the trial once right after ``epoch`` (a marker file remembers)."""

    def __init__(self, marker: Path, epoch: int) -> None:
        self.marker = marker
        self.epoch = epoch

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        super().__call__(metrics, checkpoint)
        if metrics["epoch"] == self.epoch and not self.marker.exists():
            self.marker.touch()
            raise RuntimeError("injected crash")


def _fit(tmp_path: Path, name: str, reporter: RayReporter) -> tune.ResultGrid:
    data = toy_data(**DATA)
    tuner = tune.Tuner(
        make_trainable(data, reporter=reporter),
        param_space=CONFIG,
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(tmp_path / "ray"),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
        ),
    )
    return tuner.fit()


@pytest.mark.slow
def test_restored_trial_ends_with_the_uninterrupted_metrics(
    ray_session: None, tmp_path: Path
) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a 1-CPU Ray worker, so float reductions run alike
    try:  # the uninterrupted run, in this process (the trainable runs this same function)
        expected = train(TrainConfig.from_dict(CONFIG), toy_data(**DATA)).history[-1]
    finally:
        torch.set_num_threads(threads)
    marker = tmp_path / "crashed"
    crashed = _fit(tmp_path, "crashed", CrashOnce(marker, epoch=3))
    assert crashed.num_errors == 0
    assert marker.exists()
    got = crashed[0]
    keys = [k for k in expected if k.startswith(("val_", "train_", "temperature", "lr_"))]
    assert keys and "val_top1" in keys
    assert {k: got.metrics[k] for k in keys} == {k: expected[k] for k in keys}
    assert got.metrics["epoch"] == 4
    history = got.metrics_dataframe
    assert list(history["epoch"]) == [1, 2, 3, 3, 4]  # epoch 3 re-run from the epoch-2 checkpoint
    state = load_checkpoint(Path(got.checkpoint.path))
    assert state["epoch"] == 4
