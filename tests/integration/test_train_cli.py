"""`study train`: one run without Ray, from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from study.cli import main
from study.commands.train import RUN_MARKER
from trainables.training.config import TrainConfig


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


def _train(twin: Path, out: Path, *overrides: str) -> int:
    return main(["train", "--data", str(twin), "--backbone", "synclr", "--subject", "1",
                 "--out", str(out), "epochs=1", "batch_size=64", *overrides])  # fmt: skip


def test_train_refuses_a_non_empty_folder_it_did_not_write(
    twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "config.yaml").write_text("my own notes\n")
    assert _train(twin, out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: --out is not empty") and err.count("\n") == 1
    assert [p.name for p in out.iterdir()] == ["config.yaml"]
    assert (out / "config.yaml").read_text() == "my own notes\n"
    (tmp_path / "file").write_text("x")
    assert _train(twin, tmp_path / "file") == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_train_reruns_into_its_own_earlier_output(twin: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _train(twin, out) == 0
    assert _train(twin, out, "seed=3") == 0
    assert TrainConfig.load(out / "config.yaml").seed == 3
    (out / RUN_MARKER).unlink()  # an output written before the marker existed is still its own
    assert _train(twin, out, "seed=4") == 0
    assert TrainConfig.load(out / "config.yaml").seed == 4
