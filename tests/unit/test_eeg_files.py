"""Reading and validating preprocessed EEG files of both releases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.real_format import OSF_CHANNELS, eeg_content, write_format_a, write_format_b
from trainables.common.errors import DataError
from trainables.things_eeg2.eeg_files import FORMAT_NICE, FORMAT_OSF, detect_format, read_eeg_file

WRITERS = {FORMAT_OSF: write_format_a, FORMAT_NICE: write_format_b}


def test_format_a_reads_with_its_axes(tmp_path: Path) -> None:
    content = eeg_content(5, 4, "osf", seed=3)
    path = write_format_a(tmp_path / "preprocessed_eeg_training.npy", content)
    rec = read_eeg_file(path)
    assert rec.format == FORMAT_OSF
    assert rec.shape == (5, 4, 17, 100)
    assert rec.ch_names == list(OSF_CHANNELS)
    assert rec.sfreq == 100.0
    np.testing.assert_allclose(rec.times, content["times"])
    np.testing.assert_array_equal(rec.data, content["preprocessed_eeg_data"])


def test_format_b_keeps_the_last_times_matching_the_data(tmp_path: Path) -> None:
    content = eeg_content(3, 2, "nice", seed=1)
    assert len(content["times"]) == 300
    path = write_format_b(tmp_path / "preprocessed_eeg_training.npy", content)
    rec = read_eeg_file(path)
    assert rec.format == FORMAT_NICE
    assert rec.shape == (3, 2, 63, 250)
    assert rec.sfreq == 250.0
    assert rec.times.shape == (250,)
    assert rec.times[0] == pytest.approx(0.0, abs=1e-9)
    assert rec.times[-1] == pytest.approx(0.996)


def test_format_is_detected_by_bytes_not_name(tmp_path: Path) -> None:
    a = write_format_a(tmp_path / "data.pkl", eeg_content(2, 2, "osf"))
    b = write_format_b(tmp_path / "data.npy", eeg_content(2, 2, "nice"))
    assert detect_format(a) == FORMAT_OSF
    assert detect_format(b) == FORMAT_NICE


def _error(path: Path) -> str:
    with pytest.raises(DataError) as err:
        read_eeg_file(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    assert "missing file" in _error(tmp_path / "nope.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    assert "empty file" in _error(tmp_path / "empty.npy")
    (tmp_path / "text.npy").write_text("hello")
    assert "first bytes" in _error(tmp_path / "text.npy")


@pytest.mark.parametrize("fmt", [FORMAT_OSF, FORMAT_NICE])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_files(tmp_path: Path, fmt: str, keep: float) -> None:
    path = WRITERS[fmt](tmp_path / "x.npy", eeg_content(4, 2, fmt, n_channels=3))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    message = _error(path)
    assert "truncated" in message or "damaged" in message


def test_truncated_npy_header(tmp_path: Path) -> None:
    path = write_format_a(tmp_path / "x.npy", eeg_content(2, 2, "osf"))
    path.write_bytes(path.read_bytes()[:20])
    assert "npy header" in _error(path)


@pytest.mark.parametrize("fmt", [FORMAT_OSF, FORMAT_NICE])
def test_wrong_keys(tmp_path: Path, fmt: str) -> None:
    content = eeg_content(2, 2, fmt, n_channels=3)
    content["eeg"] = content.pop("preprocessed_eeg_data")
    message = _error(WRITERS[fmt](tmp_path / "x.npy", content))
    assert "missing preprocessed_eeg_data" in message and "eeg" in message


def test_not_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 3)))
    assert "0-d object array" in _error(path)
    write_format_b(tmp_path / "y.npy", [1, 2])  # type: ignore[arg-type]
    assert "expected a dict" in _error(tmp_path / "y.npy")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(preprocessed_eeg_data=c["preprocessed_eeg_data"][0]), "4-D array"),
        (
            lambda c: c.update(preprocessed_eeg_data=c["preprocessed_eeg_data"].astype(int)),
            "float64, found int64",
        ),
        (lambda c: c.update(ch_names=c["ch_names"][:-1]), "expected 3 ch_names"),
        (lambda c: c.update(ch_names=[1, 2, 3]), "list of strings"),
        (lambda c: c.update(times=c["times"][:-1]), "expected 100 times"),
        (lambda c: c.update(times=c["times"][::-1]), "evenly spaced increasing"),
    ],
)
def test_wrong_shape_dtype_and_axes(tmp_path: Path, change, expected: str) -> None:
    content = eeg_content(2, 2, "osf", n_channels=3)
    change(content)
    assert expected in _error(write_format_a(tmp_path / "x.npy", content))


def test_format_b_times_shorter_than_data(tmp_path: Path) -> None:
    content = eeg_content(2, 2, "nice", n_channels=3)
    content["times"] = content["times"][:200]
    assert "at least 250 times" in _error(write_format_b(tmp_path / "x.npy", content))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values(tmp_path: Path, bad: float) -> None:
    content = eeg_content(3, 2, "osf", n_channels=3)
    content["preprocessed_eeg_data"][1, 0, 2, 5] = bad
    message = _error(write_format_a(tmp_path / "x.npy", content))
    assert "1 non-finite" in message and "1, 0, 2, 5" in message
