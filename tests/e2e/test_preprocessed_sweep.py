"""The raw release end to end at tiny scale: `study synth --raw` -> `study preprocess` (the
official settings) -> `study check` -> a sweep over that folder reading its occipital channels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.cli import main
from study.results import read_trials
from study.spec import StudySpec


def test_sweep_on_data_preprocessed_from_the_raw_release(
    ray_session: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    synth = ["synth", "--raw", "--out", str(data), "--subjects", "1", "--no-images"]
    assert main([*synth, "--backbones", "synclr"]) == 0
    preprocess = ["preprocess", "--raw", str(data / "raw"), "--out", str(data / "eeg")]
    assert main([*preprocess, "--mvnn-covariance", "train"]) == 0
    assert main(["check", "--data", str(data)]) == 0
    storage = tmp_path / "studies"
    sweep = [
        "sweep", "--data", str(data), "--backbones", "synclr", "--name", "raw",
        "--storage", str(storage), "--num-samples", "1", "--max-epochs", "1",
        "--grace-period", "1", "--tune-subjects", "1", "--data-inputs", "channels:occipital",
    ]  # fmt: skip
    assert main(sweep) == 0
    capsys.readouterr()
    spec = StudySpec.load(storage / "raw")
    protocol = spec.data_protocol
    assert protocol is not None
    assert len(protocol.channels) == 17 and protocol.sfreq == 100.0 and protocol.n_times == 100
    occipital = protocol.inputs[""]
    assert occipital["channels"] == [c for c in protocol.channels if c.startswith(("PO", "O"))]
    (trial,) = read_trials(storage / "raw" / "synclr")
    assert trial.epochs == 1 and 0.0 <= trial.history["val_top1"].iloc[-1] <= 1.0
    provenance = json.loads((data / "eeg" / "sub-01" / "preprocessing.json").read_text())
    assert provenance["settings"]["mvnn_covariance"] == "train"
