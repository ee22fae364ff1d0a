"""`study synth --raw` -> `study preprocess` -> `study check`: the raw twin becomes an ordinary
data folder (tiny scale, one subject)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from study.cli import main
from trainables.things_eeg2.eeg_files import read_eeg_file


def test_synth_raw_preprocess_check(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    synth = ["synth", "--raw", "--out", str(data), "--subjects", "1", "--no-images"]
    assert main([*synth, "--backbones", "synclr"]) == 0
    assert sorted(p.name for p in (data / "raw" / "sub-01").iterdir()) == [
        "ses-01", "ses-02", "ses-03", "ses-04"
    ]  # fmt: skip
    assert not (data / "eeg").exists()
    assert main(["preprocess", "--raw", str(data / "raw"), "--out", str(data / "eeg")]) == 0
    capsys.readouterr()
    assert main(["check", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "sub-01  train (200, 4, 17, 100)" in out and "test (10, 80, 17, 100)" in out
    assert "17: Pz P3 P7 O1 Oz O2 P4 P8 P1 P5 PO7 PO3 POz PO4 PO8 P6 P2" in out
    assert "100 Hz, 100 samples, -0.200..0.790 s" in out and out.rstrip().endswith("ok")
    # The whitened test data carries the twin's image responses: split-half means of each
    # image's repetitions agree after onset (0.1..0.8 s), not in the baseline (-0.2..0 s).
    test = read_eeg_file(data / "eeg" / "sub-01" / "preprocessed_eeg_test.npy").data
    assert np.isfinite(test).all()
    r_post, r_base = _split_half(test[:, :, :, 30:]), _split_half(test[:, :, :, :20])
    assert r_post > 0.05 and r_post > 3 * abs(r_base), (r_post, r_base)


def _split_half(x: np.ndarray) -> float:
    a, b = x[:, 0::2].mean(1), x[:, 1::2].mean(1)
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
