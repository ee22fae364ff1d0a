"""The training loop: determinism, schedules, temperature, test isolation, checkpoints, learning."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from tests.helpers.toy_data import toy_data
from trainables.common.errors import ConfigError, DataError, TrainingDiverged
from trainables.models.loss import MAX_LOGIT_SCALE
from trainables.training import loop as training
from trainables.training.checkpoints import load_checkpoint
from trainables.training.config import TrainConfig
from trainables.training.loop import train
from trainables.training.schedules import WarmupCosine

FAST = TrainConfig(
    epochs=3, batch_size=32, warmup_encoder=1, warmup_projector=1, latent_dim=16, checkpoint_every=2
)


class Untouchable:
    """Stands in for the test split: any access fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"test split accessed ({name})")


def test_same_seed_gives_identical_metrics_and_another_seed_does_not() -> None:
    data = toy_data(n_train=96, n_val=32)
    a = train(FAST, data).history
    b = train(FAST, data).history
    c = train(dataclasses.replace(FAST, seed=1), data).history
    assert a == b
    assert a[-1]["val_loss"] != c[-1]["val_loss"]


def test_warmup_starts_at_the_start_factor_and_cosine_ends_at_min() -> None:
    schedule = WarmupCosine(8e-3, 1e-4, warmup=4, epochs=20, start=0.1)
    factors = [schedule(e) for e in range(20)]
    assert factors[0] == pytest.approx(0.1)
    assert factors[:5] == pytest.approx([0.1, 0.325, 0.55, 0.775, 1.0])
    assert factors[-1] * 8e-3 == pytest.approx(1e-4)
    assert all(x >= y for x, y in zip(factors[4:], factors[5:], strict=False))


def test_each_group_follows_its_own_schedule() -> None:
    config = TrainConfig(
        **{**FAST.to_dict(), "epochs": 6, "warmup_encoder": 4, "warmup_projector": 2}
    )
    history = train(config, toy_data(n_train=64, n_val=16)).history
    enc = [h["lr_encoder"] for h in history]
    proj = [h["lr_projector"] for h in history]
    assert enc[0] == pytest.approx(8e-4) and proj[0] == pytest.approx(8e-4)
    assert proj[2] == pytest.approx(8e-3) and enc[2] < 8e-3
    assert enc[4] == pytest.approx(8e-3)
    assert enc[-1] == pytest.approx(1e-4) and proj[-1] == pytest.approx(1e-4)


def test_temperature_is_optimized() -> None:
    history = train(FAST, toy_data(n_train=96, n_val=32)).history
    assert history[0]["temperature"] != pytest.approx(0.07, abs=1e-6)
    assert all(math.isfinite(h["temperature"]) for h in history)


def test_a_diverged_run_stops_as_failed_instead_of_reporting_nan() -> None:
    reported: list[dict[str, float]] = []
    huge = dataclasses.replace(FAST, lr_encoder=1e8, lr_projector=1e8)
    with pytest.raises(TrainingDiverged, match="diverged at epoch 1: .*train_loss"):
        train(huge, toy_data(n_train=96, n_val=32), report=lambda m, c: reported.append(m))
    assert reported == []


def test_logit_scale_is_clamped_as_a_parameter_after_each_step() -> None:
    """Started at the bound (temperature 0.01), the scale stays <= ln 100 yet keeps training."""
    config = dataclasses.replace(FAST, temperature_init=0.01, lr_projector=0.5)
    history = train(config, toy_data(n_train=96, n_val=32)).history
    assert all(math.log(1 / h["temperature"]) <= MAX_LOGIT_SCALE + 1e-6 for h in history)
    assert any(math.log(1 / h["temperature"]) < MAX_LOGIT_SCALE - 1e-3 for h in history)


@pytest.mark.parametrize("n_subjects", [1, 2])
def test_only_pooled_training_masks_same_image_pairs(
    n_subjects: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One subject: the loss gets no image ids (bit-identical to the unmasked loss); pooled
    subjects: every batch's image ids, so other subjects' responses to an image are no negatives."""
    seen: list[torch.Tensor | None] = []

    def spy(
        z_eeg: torch.Tensor,
        z_img: torch.Tensor,
        logit_scale: torch.Tensor,
        image_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        seen.append(image_ids)
        return training_loss(z_eeg, z_img, logit_scale, image_ids)

    training_loss = training.info_nce
    monkeypatch.setattr(training, "info_nce", spy)
    config = dataclasses.replace(FAST, epochs=1)
    train(config, toy_data(n_train=64, n_val=16, n_subjects=n_subjects))
    assert seen
    if n_subjects == 1:
        assert all(ids is None for ids in seen)
    else:
        assert all(ids is not None and len(ids) == FAST.batch_size for ids in seen)


def test_test_split_untouched_unless_asked() -> None:
    data = toy_data(n_train=64, n_val=16)
    data.test = Untouchable()  # type: ignore[assignment]
    result = train(FAST, data)
    assert not any(k.startswith("test_") for k in result.final)


def test_test_split_evaluated_once_when_asked() -> None:
    result = train(FAST, toy_data(n_train=64, n_val=16, n_test=20), evaluate_test=True)
    assert [("test_top1" in h) for h in result.history] == [False, False, True]
    assert result.final["test_chance_top1"] == pytest.approx(1 / 20)
    assert result.test_per_subject_top1 is not None and len(result.test_per_subject_top1) == 2


def test_evaluate_test_without_test_split_is_an_error() -> None:
    with pytest.raises(ConfigError, match="test split"):
        train(FAST, toy_data(n_train=64, n_val=16), evaluate_test=True)


def test_checkpoint_round_trip_resumes_exactly(tmp_path: Path) -> None:
    data = toy_data(n_train=96, n_val=32)
    config = dataclasses.replace(FAST, epochs=4)
    full = train(config, data, checkpoint_dir=tmp_path / "full")
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["epoch_0002", "epoch_0004"]
    state = torch.load(tmp_path / "full/epoch_0002/state.pt", weights_only=True)
    assert state["epoch"] == 2
    resumed = train(config, data, resume_from=tmp_path / "full/epoch_0002")
    assert resumed.history == full.history


def test_resume_rejects_a_different_config(tmp_path: Path) -> None:
    data = toy_data(n_train=64, n_val=16)
    train(FAST, data, checkpoint_dir=tmp_path)
    other = dataclasses.replace(FAST, lr_encoder=1e-3)
    with pytest.raises(ConfigError, match="lr_encoder"):
        train(other, data, resume_from=tmp_path / "epoch_0002")


def test_checkpoint_loading_is_strict(tmp_path: Path) -> None:
    data = toy_data(n_train=64, n_val=16)
    train(FAST, data, checkpoint_dir=tmp_path)
    path = tmp_path / "epoch_0002/state.pt"
    state = load_checkpoint(path)
    state["model"]["encoder.extra"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(DataError, match="does not fit this model.*Unexpected key"):
        train(FAST, data, resume_from=path)
    torch.save({"model": {}}, path)
    with pytest.raises(DataError, match="not a training checkpoint"):
        load_checkpoint(path)


def test_short_run_learns_many_times_chance() -> None:
    data = toy_data(n_train=384, n_val=96, n_subjects=1)
    config = TrainConfig(
        epochs=8, batch_size=64, warmup_encoder=1, warmup_projector=1, latent_dim=32, dropout=0.1
    )
    final = train(config, data).final
    assert final["val_chance_top1"] == pytest.approx(1 / 96)
    assert final["val_top1"] >= 10 * final["val_chance_top1"]
    assert final["val_loss"] < math.log(96)


def test_compiled_training_follows_the_eager_run() -> None:
    """compile=true (torch.compile of the whole model) trains the same model. Not bit for bit:
    fused kernels round differently, and Adam turns the rounding noise in the gradient of the
    (function-neutral) bias before the first BatchNorm into lr-sized steps, which the running
    mean used in evaluation follows with a lag."""
    data = toy_data(n_train=96, n_val=32)
    no_dropout = dataclasses.replace(FAST, epochs=2, dropout=0.0)
    eager = train(no_dropout, data).history
    compiled = train(dataclasses.replace(no_dropout, compile=True), data).history
    for a, b in zip(eager, compiled, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-2)
