"""Prepared cache: built once, memory-mapped, rebuilt when the source changes or it is damaged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.real_format import eeg_content, write_format_a, write_format_b
from trainables.common.errors import DataError
from trainables.things_eeg2 import prepared_cache
from trainables.things_eeg2.prepared_cache import (
    MANIFEST,
    default_cache_dir,
    entry_dir,
    load_prepared,
)


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict]:
    content = eeg_content(6, 4, "osf", n_channels=3, seed=5)
    return write_format_a(tmp_path / "sub-01" / "preprocessed_eeg_training.npy", content), content


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = prepared_cache.read_eeg_file

    def counting(path: Path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(prepared_cache, "read_eeg_file", counting)
    return calls


def test_first_use_builds_then_memory_maps(source, tmp_path, monkeypatch) -> None:
    path, content = source
    parses = _count_parses(monkeypatch)
    first = load_prepared(path, tmp_path / "cache")
    second = load_prepared(path, tmp_path / "cache")
    assert len(parses) == 1
    assert first.built and not second.built
    assert isinstance(second.mean, np.memmap) and second.mean.dtype == np.float32
    expected = content["preprocessed_eeg_data"].mean(axis=1).astype(np.float32)
    np.testing.assert_array_equal(second.mean, expected)
    assert second.source_shape == (6, 4, 3, 100) and second.sfreq == 100.0
    assert second.repetitions is None
    manifest = json.loads((entry_dir(tmp_path / "cache", path) / MANIFEST).read_text())
    assert manifest["source"]["size"] == path.stat().st_size
    assert manifest["format"] == "osf" and manifest["arrays"]["mean"]["shape"] == [6, 3, 100]


def test_per_repetition_array_on_request(source, tmp_path, monkeypatch) -> None:
    path, content = source
    parses = _count_parses(monkeypatch)
    load_prepared(path, tmp_path / "c")
    reps = load_prepared(path, tmp_path / "c", per_repetition=True)
    again = load_prepared(path, tmp_path / "c", per_repetition=True)
    assert len(parses) == 2 and not again.built
    np.testing.assert_array_equal(
        again.repetitions, content["preprocessed_eeg_data"].astype(np.float32)
    )
    assert reps.repetitions.shape == (6, 4, 3, 100)


def test_changed_source_is_rebuilt(source, tmp_path, monkeypatch) -> None:
    path, _ = source
    load_prepared(path, tmp_path / "c")
    new = eeg_content(6, 4, "osf", n_channels=3, seed=9)
    write_format_a(path, new)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    parses = _count_parses(monkeypatch)
    rebuilt = load_prepared(path, tmp_path / "c")
    assert rebuilt.built and len(parses) == 1
    np.testing.assert_allclose(
        rebuilt.mean, new["preprocessed_eeg_data"].mean(axis=1), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: (e / "mean.npy").write_bytes((e / "mean.npy").read_bytes()[:-40]),
        lambda e: (e / "mean.npy").unlink(),
        lambda e: (e / MANIFEST).write_text("{not json"),
        lambda e: (e / "mean.npy").write_bytes(b"garbage"),
    ],
)
def test_damaged_cache_is_rebuilt_not_used(source, tmp_path, monkeypatch, damage) -> None:
    path, content = source
    load_prepared(path, tmp_path / "c")
    damage(entry_dir(tmp_path / "c", path))
    parses = _count_parses(monkeypatch)
    again = load_prepared(path, tmp_path / "c")
    assert again.built and len(parses) == 1
    expected = content["preprocessed_eeg_data"].mean(axis=1).astype(np.float32)
    np.testing.assert_array_equal(again.mean, expected)


def test_invalid_source_writes_nothing(tmp_path: Path) -> None:
    content = eeg_content(2, 2, "nice", n_channels=3)
    content["preprocessed_eeg_data"][0, 0, 0, 0] = np.nan
    path = write_format_b(tmp_path / "sub-01" / "preprocessed_eeg_training.npy", content)
    with pytest.raises(DataError, match="non-finite"):
        load_prepared(path, tmp_path / "c")
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*"))


def test_format_b_cache_keeps_its_axes(tmp_path: Path) -> None:
    path = write_format_b(tmp_path / "s" / "x.npy", eeg_content(2, 3, "nice", n_channels=5))
    load_prepared(path, tmp_path / "c")
    cached = load_prepared(path, tmp_path / "c")
    assert cached.format == "nice" and cached.sfreq == 250.0
    assert cached.mean.shape == (2, 5, 250) and cached.times[0] == pytest.approx(0.0, abs=1e-9)


def test_default_cache_dir_falls_back_when_data_is_read_only(tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert default_cache_dir(data) == data.resolve() / ".study-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "access", lambda *_: False)
    fallback = default_cache_dir(data)
    assert fallback.is_relative_to(tmp_path / "xdg") and fallback.name.startswith("data-")


def test_failed_write_leaves_no_usable_entry(source, tmp_path, monkeypatch) -> None:
    path, _ = source

    def fail(*_args) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(prepared_cache, "save_json_atomic", fail)
    with pytest.raises(DataError, match="cannot write the prepared cache .*disk full"):
        load_prepared(path, tmp_path / "c")
    entry = entry_dir(tmp_path / "c", path)
    assert not (entry / MANIFEST).exists()
    assert not [p for p in entry.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert load_prepared(path, tmp_path / "c").built
