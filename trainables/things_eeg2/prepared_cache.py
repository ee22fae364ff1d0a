"""Prepared EEG cache: float32 memory-mappable .npy arrays + a JSON manifest per source file.

The first use of a subject's split parses its pickle once and writes the repetition-averaged
array (and, when asked, the per-repetition array) as float32 .npy files, then the manifest last;
every file is written atomically. Later uses memory-map the arrays. The manifest records the
source's path, size and mtime, the format, axes and shapes: a changed source, or a missing,
truncated or inconsistent cache file, is detected and the entry is rebuilt, never used.

Entry layout: ``<cache_dir>/<subject folder>-<file stem>-<hash of source path>/``
with ``mean.npy`` (images, channels, times), ``repetitions.npy`` (images, reps, channels, times)
and ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from trainables.common.atomic import save_json_atomic, save_npy_atomic
from trainables.common.errors import DataError
from trainables.common.finite import count_nonfinite, require_finite
from trainables.things_eeg2.eeg_files import read_eeg_file

CACHE_VERSION = 1
MANIFEST = "manifest.json"
ARRAY_FILES = {"mean": "mean.npy", "repetitions": "repetitions.npy"}
CACHE_DIR_NAME = ".study-cache"
APP_NAME = "aligned-eeg-study"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedEEG:
    """One subject's split as float32 arrays (memory-mapped from the cache)."""

    source: Path
    format: str
    mean: np.ndarray
    repetitions: np.ndarray | None
    ch_names: list[str]
    times: np.ndarray
    sfreq: float
    source_shape: tuple[int, ...]
    built: bool

    @property
    def n_repetitions(self) -> int:
        return self.source_shape[1]


def default_cache_dir(data_root: Path) -> Path:
    """``<data root>/.study-cache`` when writable, else a per-dataset folder in the user cache."""
    data_root = Path(data_root).expanduser().resolve()
    local = data_root / CACHE_DIR_NAME
    if os.access(local if local.is_dir() else data_root, os.W_OK):
        return local
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(data_root).encode()).hexdigest()[:16]
    return base / APP_NAME / "prepared" / f"{data_root.name}-{digest}"


def entry_dir(cache_dir: Path, source: Path) -> Path:
    """The cache entry folder of one source file."""
    source = Path(source).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{source.parent.name}-{source.stem}-{digest}"


def load_prepared(source: Path, cache_dir: Path, *, per_repetition: bool = False) -> PreparedEEG:
    """Prepared arrays of ``source``, from a valid cache entry or (re)built from the source."""
    source = Path(source)
    if not source.is_file():
        raise DataError(f"{source}: missing file (expected a preprocessed EEG file)")
    entry = entry_dir(cache_dir, source)
    stat = source.stat()
    prepared, reason = _open_entry(entry, source, stat, per_repetition)
    if prepared is not None:
        return prepared
    log.info("preparing %s (%s)", source, reason)
    _build(entry, source, stat, per_repetition)
    prepared, reason = _open_entry(entry, source, stat, per_repetition)
    if prepared is None:
        raise DataError(f"{entry}: prepared cache unreadable right after writing it ({reason})")
    return replace(prepared, built=True)


def _source_record(source: Path, stat: os.stat_result) -> dict[str, Any]:
    return {"path": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _build(entry: Path, source: Path, stat: os.stat_result, per_repetition: bool) -> None:
    recording = read_eeg_file(source)
    with np.errstate(over="ignore"):
        arrays = {"mean": recording.data.mean(axis=1, dtype=np.float64).astype(np.float32)}
        if per_repetition:
            arrays["repetitions"] = recording.data.astype(np.float32)
    for array in arrays.values():
        require_finite(array, source, "EEG values within float32 range")
    manifest = {
        "version": CACHE_VERSION,
        "source": _source_record(source, stat),
        "format": recording.format,
        "source_shape": list(recording.shape),
        "source_dtype": str(recording.data.dtype),
        "ch_names": recording.ch_names,
        "times": [float(t) for t in recording.times],
        "sfreq": recording.sfreq,
        "arrays": {},
    }
    try:
        (entry / MANIFEST).unlink(missing_ok=True)
        for name, array in arrays.items():
            path = entry / ARRAY_FILES[name]
            save_npy_atomic(path, array)
            manifest["arrays"][name] = {
                "file": ARRAY_FILES[name],
                "shape": list(array.shape),
                "dtype": str(array.dtype),
                "bytes": path.stat().st_size,
            }
        save_json_atomic(entry / MANIFEST, manifest)
    except OSError as exc:
        raise DataError(
            f"{entry}: cannot write the prepared cache ({exc}); pass --cache-dir"
        ) from exc


def _open_entry(
    entry: Path, source: Path, stat: os.stat_result, per_repetition: bool
) -> tuple[PreparedEEG | None, str]:
    """The entry's arrays if it is complete and matches the source, else (None, why not)."""
    manifest_path = entry / MANIFEST
    if not manifest_path.is_file():
        return None, "no cache yet"
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("version") != CACHE_VERSION:
            return None, "cache version changed"
        if manifest["source"] != _source_record(source, stat):
            return None, "source file changed"
        if per_repetition and "repetitions" not in manifest["arrays"]:
            return None, "per-repetition array requested"
        arrays = {name: _open_array(entry, spec) for name, spec in manifest["arrays"].items()}
        used = ["mean", "repetitions"] if per_repetition else ["mean"]
        bad = sum(count_nonfinite(arrays[name]) for name in used)
        if bad:
            return None, f"{bad} non-finite values in the cache"
        return PreparedEEG(
            source=source,
            format=manifest["format"],
            mean=arrays["mean"],
            repetitions=arrays.get("repetitions") if per_repetition else None,
            ch_names=list(manifest["ch_names"]),
            times=np.asarray(manifest["times"], dtype=np.float64),
            sfreq=float(manifest["sfreq"]),
            source_shape=tuple(manifest["source_shape"]),
            built=False,
        ), ""
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"damaged cache: {exc}"


def _open_array(entry: Path, spec: dict[str, Any]) -> np.ndarray:
    path = entry / spec["file"]
    if path.stat().st_size != spec["bytes"]:
        raise ValueError(f"{path.name} has {path.stat().st_size} bytes, expected {spec['bytes']}")
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if list(array.shape) != spec["shape"] or str(array.dtype) != spec["dtype"]:
        raise ValueError(
            f"{path.name} is {array.dtype} {array.shape}, expected {spec['dtype']} "
            f"{tuple(spec['shape'])}"
        )
    return array
