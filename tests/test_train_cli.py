"""`study train`: one run without Ray, from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from study.cli import main
from study.synthetic import SynthConfig, write_dataset
from trainables.config import TrainConfig


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("twin") / "data"
    return write_dataset(SynthConfig(out=out, scale="tiny", images=False))


def test_train_prints_epochs_and_writes_checkpoint_config_and_tensorboard(
    twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(
        ["train", "--data", str(twin), "--backbone", "aligned_synclr", "--subject", "1",
         "--out", str(out), "epochs=3", "batch_size=64", "checkpoint_every=2"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert [line.split()[1] for line in printed.splitlines() if line.startswith("epoch")] == [
        "1", "2", "3"
    ]  # fmt: skip
    assert "final val top-1" in printed and "test_top1" not in printed
    assert TrainConfig.load(out / "config.yaml") == TrainConfig(
        epochs=3, batch_size=64, checkpoint_every=2
    )
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["epoch_0002", "epoch_0003"]
    state = torch.load(out / "checkpoints" / "epoch_0003" / "state.pt", weights_only=True)
    assert state["epoch"] == 3 and len(state["history"]) == 3
    assert list((out / "tensorboard").glob("events.out.tfevents*"))


def test_train_refuses_an_unknown_override(
    twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["train", "--data", str(twin), "--backbone", "synclr", "--subject", "1",
         "--out", str(tmp_path / "x"), "learning_rate=1"]
    )  # fmt: skip
    assert code == 2
    assert "learning_rate" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
