"""`study train --inputs`: an input variant applied to one run and recorded with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.cli import main
from study.commands.train import RUN_MARKER
from tests.helpers.real_format import make_dataset

OCCIPITAL = ["O1", "Oz", "O2", "PO7", "PO3", "POz", "PO4", "PO8"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train-inputs")
    make_dataset(path, subjects=(1,), n_channels=17, jpegs=False)
    return path


def _train(root: Path, out: Path, inputs: str) -> int:
    return main(["train", "--data", str(root), "--backbone", "synclr", "--subject", "1",
                 "--out", str(out), "--inputs", inputs, "epochs=2", "batch_size=16"])  # fmt: skip


def test_train_applies_and_records_the_inputs(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _train(root, out, "channels:occipital/tmax:0.5/repetitions:2") == 0
    printed = capsys.readouterr().out
    assert [line.split()[1] for line in printed.splitlines() if line.startswith("epoch")] == [
        "1", "2"
    ]  # fmt: skip
    block = json.loads((out / RUN_MARKER).read_text())["inputs"]
    assert block["spec"] == "channels:occipital/tmax:0.5/repetitions:2"
    assert block["channels"] == OCCIPITAL and block["n_times"] == 71 and block["sfreq"] == 100.0
    assert block["settings"]["repetitions"] == 2


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ("channels:frontal", "group 'frontal'"),
        ("repetitions:9", "k=9 exceeds the 4 repetitions"),
        ("tmin:x", "tmin must be a number of seconds"),
    ],
)
def test_bad_inputs_exit_2_with_one_line_and_write_nothing(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], inputs: str, message: str
) -> None:
    assert _train(root, tmp_path / "x", inputs) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
