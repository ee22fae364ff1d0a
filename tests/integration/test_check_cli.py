"""`study check` end to end: summary on good data, one-line exit 2 on bad data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from study.cli import main
from tests.helpers.real_format import eeg_content, make_dataset, write_format_b

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fmt", ["osf", "nice"])
def test_check_summarises_a_valid_tree(tmp_path: Path, capsys, fmt: str) -> None:
    make_dataset(tmp_path, fmt=fmt, backbones=("synclr", "aligned_synclr"))
    assert main(["check", "--data", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert sum(line.startswith("preparing ") for line in err.splitlines()) == 4  # logged
    assert "sub-01  train (36, 4, 4, " in out and "sub-02" in out
    assert ("A (OSF" if fmt == "osf" else "B (NICE") in out
    assert ("100 Hz" if fmt == "osf" else "250 Hz, 250 samples, 0.000..0.996 s") in out
    assert "36 train images of 12 concepts, 4 test images of 4 concepts" in out
    assert "aligned_synclr      dim 8, image lists match" in out
    assert out.count("(parsed, cached)") == 4 and out.rstrip().endswith("ok")
    assert main(["check", "--data", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("(from cache)") == 4


def test_check_with_overridden_folders_and_cache(tmp_path: Path, capsys) -> None:
    make_dataset(tmp_path / "d")
    for name in ("eeg", "imgs", "embeddings"):
        shutil.move(tmp_path / "d" / name, tmp_path / f"my_{name}")
    args = [
        "check",
        "--data",
        str(tmp_path / "d"),
        "--eeg-dir",
        str(tmp_path / "my_eeg"),
        "--images-dir",
        str(tmp_path / "my_imgs"),
        "--embeddings-dir",
        str(tmp_path / "my_embeddings"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(args) == 0
    assert "ok" in capsys.readouterr().out
    assert any((tmp_path / "cache").iterdir())
    assert not (tmp_path / "d" / ".study-cache").exists()


def test_mismatched_store_fails_after_the_summary(tmp_path: Path, capsys) -> None:
    make_dataset(tmp_path / "a", backbones=("synclr", "dino"))
    make_dataset(tmp_path / "b", n_train_concepts=11, backbones=("dino",))
    shutil.rmtree(tmp_path / "a" / "embeddings" / "dino")
    shutil.copytree(tmp_path / "b" / "embeddings" / "dino", tmp_path / "a" / "embeddings" / "dino")
    assert main(["check", "--data", str(tmp_path / "a")]) == 2
    captured = capsys.readouterr()
    assert "synclr              dim 8, image lists match" in captured.out
    assert "dino                UNUSABLE" in captured.out
    error = one_error_line(captured.err)
    assert error.startswith("error: ") and "1 embedding store(s) unusable" in error


def one_error_line(stderr: str) -> str:
    """The last stderr line; every line before it is a logged "preparing ..." message."""
    *progress, error = stderr.splitlines()
    assert all(line.startswith("preparing ") for line in progress), stderr
    return error


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "study.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_bad_data_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    make_dataset(tmp_path, fmt="nice")
    bad = tmp_path / "eeg" / "sub-02" / "preprocessed_eeg_test.npy"
    content = eeg_content(4, 8, "nice", n_channels=4)
    content["preprocessed_eeg_data"][3, 1, 0, 0] = float("nan")
    write_format_b(bad, content)
    result = _cli("check", "--data", str(tmp_path))
    assert result.returncode == 2
    assert (
        one_error_line(result.stderr) == f"error: {bad}: expected finite EEG values, found 1 "
        "non-finite (first at image, repetition, channel, time = 3, 1, 0, 0)"
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_data_folder_exits_2(tmp_path: Path) -> None:
    result = _cli("check", "--data", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "expected a data folder" in result.stderr


@pytest.mark.parametrize("fmt", ["osf", "nice"])
def test_synth_then_check_then_load(tmp_path: Path, capsys, fmt: str) -> None:
    from trainables.things_eeg2.layout import find_layout
    from trainables.things_eeg2.loader import load_decoding_data

    out = tmp_path / "twin"
    assert (
        main(
            [
                "synth",
                "--out",
                str(out),
                "--format",
                fmt,
                "--subjects",
                "1",
                "--backbones",
                "synclr",
                "--no-images",
            ]
        )
        == 0
    )
    assert main(["check", "--data", str(out)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ok")
    data = load_decoding_data(find_layout(out), "synclr", include_test=True)
    assert data.n_channels == (17 if fmt == "osf" else 63)
    assert data.n_times == (100 if fmt == "osf" else 250)
    assert data.test.eeg.shape[1] == data.test.embeddings.shape[0]


def test_check_refuses_a_synth_tree_whose_run_was_interrupted(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import study.synthetic.writer

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(study.synthetic.writer, "write_embedding_store", interrupted)
    out = tmp_path / "twin"
    assert main(["synth", "--out", str(out), "--subjects", "1", "--no-images"]) == 130
    capsys.readouterr()
    assert main(["check", "--data", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {out / 'synthetic.json'}: incomplete synthetic dataset (its `study synth` run "
        f"did not finish, or this file is damaged); write it again with `study synth --out {out}`\n"
    )


def test_check_refuses_a_store_whose_counts_disagree_with_the_images(
    tmp_path: Path, capsys
) -> None:
    import json

    import numpy as np

    make_dataset(tmp_path)
    store = tmp_path / "embeddings" / "synclr"
    manifest = json.loads((store / "manifest.json").read_text())
    (store / "manifest.json").write_text(json.dumps({**manifest, "n_train": 30}))
    np.save(store / "train.npy", np.load(store / "train.npy")[:30])
    assert main(["check", "--data", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "UNUSABLE: n_train is 30, but the dataset's train image list has 36" in captured.out
    assert one_error_line(captured.err).startswith("error: ")
