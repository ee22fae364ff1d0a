"""Read and validate THINGS-EEG2 preprocessed EEG files in both released flavours.

The two formats are described in :mod:`trainables.things_eeg2.formats`. The format is detected
from the first bytes, never the file name, and both are unpickled by the restricted unpickler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainables.common.errors import DataError
from trainables.things_eeg2.formats import (
    CH_NAMES_KEY,
    EEG_DATA_KEY,
    EEG_KEYS,
    FORMAT_NICE,
    FORMAT_OSF,
    NPY_MAGIC,
    PICKLE_PROTO,
    TIMES_KEY,
)
from trainables.things_eeg2.safe_pickle import load_npy_object, safe_load


@dataclass(frozen=True)
class EEGRecording:
    """One subject's split: ``data[image, repetition, channel, time]`` and its axes."""

    path: Path
    format: str
    data: np.ndarray
    ch_names: list[str]
    times: np.ndarray
    sfreq: float

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.data.shape)


def detect_format(path: Path) -> str:
    """``FORMAT_OSF`` for npy magic, ``FORMAT_NICE`` for a pickle (protocol >= 2) header."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing file (expected a preprocessed EEG file)")
    with open(path, "rb") as fh:
        head = fh.read(len(NPY_MAGIC))
    if head == NPY_MAGIC:
        return FORMAT_OSF
    if len(head) >= 2 and head[0] == PICKLE_PROTO and 2 <= head[1] <= 5:
        return FORMAT_NICE
    found = "an empty file" if not head else f"first bytes {head!r}"
    raise DataError(
        f"{path}: expected an npy file (format A) or a pickle (format B), found {found}"
    )


def read_eeg_file(path: Path) -> EEGRecording:
    """Load and validate one preprocessed EEG file (either format)."""
    path = Path(path)
    fmt = detect_format(path)
    with open(path, "rb") as fh:
        content = load_npy_object(fh, path) if fmt == FORMAT_OSF else safe_load(fh, path)
    return _validate(path, fmt, content)


def _validate(path: Path, fmt: str, content: Any) -> EEGRecording:
    if not isinstance(content, dict):
        raise DataError(
            f"{path}: expected a dict with keys {', '.join(EEG_KEYS)}, "
            f"found {type(content).__name__}"
        )
    missing = [k for k in EEG_KEYS if k not in content]
    if missing:
        found = ", ".join(sorted(map(str, content))) or "none"
        raise DataError(
            f"{path}: expected keys {', '.join(EEG_KEYS)}; missing {', '.join(missing)} "
            f"(found: {found})"
        )
    data = content[EEG_DATA_KEY]
    if not isinstance(data, np.ndarray) or data.ndim != 4:
        raise DataError(
            f"{path}: expected {EEG_DATA_KEY} as a 4-D array (images, repetitions, "
            f"channels, times), found {_describe(data)}"
        )
    if data.dtype not in (np.float64, np.float32):
        raise DataError(f"{path}: expected {EEG_DATA_KEY} float64, found {data.dtype}")
    n_images, n_reps, n_channels, n_times = data.shape
    if min(data.shape) == 0:
        raise DataError(f"{path}: {EEG_DATA_KEY} is empty, shape {data.shape}")
    ch_names = _channel_names(path, content[CH_NAMES_KEY], n_channels)
    times = _times(path, fmt, content[TIMES_KEY], n_times)
    finite = np.isfinite(data)
    if not finite.all():
        bad = np.argwhere(~finite)
        first = ", ".join(str(int(i)) for i in bad[0])
        raise DataError(
            f"{path}: expected finite EEG values, found {len(bad)} non-finite "
            f"(first at image, repetition, channel, time = {first})"
        )
    step = float(np.median(np.diff(times)))
    return EEGRecording(
        path=path,
        format=fmt,
        data=data,
        ch_names=ch_names,
        times=times,
        sfreq=round(1.0 / step, 3),
    )


def _channel_names(path: Path, raw: Any, n_channels: int) -> list[str]:
    names = list(raw) if isinstance(raw, list | tuple | np.ndarray) else None
    if names is None or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: expected ch_names as a list of strings, found {_describe(raw)}")
    if len(names) != n_channels:
        raise DataError(
            f"{path}: expected {n_channels} ch_names (the data's channel axis), found {len(names)}"
        )
    return [str(n) for n in names]


def _times(path: Path, fmt: str, raw: Any, n_times: int) -> np.ndarray:
    """The time axis matching the data: all of ``times`` (A), or its last ``n_times`` (B)."""
    try:
        times = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected times as numbers, found {_describe(raw)}") from None
    if times.ndim != 1 or not np.isfinite(times).all():
        raise DataError(f"{path}: expected times as a finite 1-D array, found {_describe(raw)}")
    fits = len(times) == n_times if fmt == FORMAT_OSF else len(times) >= n_times
    if not fits:
        want = f"{n_times}" if fmt == FORMAT_OSF else f"at least {n_times}"
        raise DataError(f"{path}: expected {want} times (the data's time axis), found {len(times)}")
    times = times[len(times) - n_times :]
    if n_times < 2:
        raise DataError(f"{path}: expected at least 2 time samples, found {n_times}")
    steps = np.diff(times)
    step = float(np.median(steps))
    if step <= 0 or np.abs(steps - step).max() > 1e-3 * step:
        raise DataError(
            f"{path}: expected evenly spaced increasing times, found steps "
            f"from {steps.min():.6g} to {steps.max():.6g} s"
        )
    return times


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
