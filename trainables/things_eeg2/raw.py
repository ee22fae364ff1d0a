"""Read and validate the raw THINGS-EEG2 release: one session file at a time, its data mapped
from disk rather than read into memory.

A raw session file (``sub-XX/ses-0Y/raw_eeg_{training,test}.npy``; names and keys in
:mod:`trainables.things_eeg2.formats`) is an ``np.save``-d dict whose ``raw_eeg_data`` is about
1-2 GB. It is unpickled by the project's restricted unpickler, with one change: a large bytes
payload outside a pickle frame (how numpy pickles an array's data) is not read but remembered by
its offset, and the array that owns it becomes a read-only ``np.memmap`` of the file. Picking 17
channels then reads 17 rows, not 64. Anything else (a payload inside a frame, a protocol-2 file)
is loaded as usual, in memory.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from trainables.common.errors import DataError
from trainables.things_eeg2.formats import (
    NPY_MAGIC,
    RAW_CH_NAMES_KEY,
    RAW_CH_TYPES_KEY,
    RAW_DATA_KEY,
    RAW_FILES,
    RAW_KEYS,
    RAW_OPTIONAL_KEYS,
    RAW_SESSIONS,
    RAW_SFREQ_KEY,
    RAW_STIM_CHANNEL,
    session_folder,
    subject_folder,
)
from trainables.things_eeg2.safe_pickle import RestrictedUnpickler, load_npy_object

MIN_MAPPED_BYTES = 1 << 16  # smaller payloads are read like any other pickle bytes


@dataclass(frozen=True)
class _Span:
    """A bytes payload left in the file: ``nbytes`` bytes from ``offset``."""

    offset: int
    nbytes: int


class _MappingUnpickler(RestrictedUnpickler):
    """The restricted unpickler; large out-of-frame array payloads become ``np.memmap`` views."""

    dispatch = dict(RestrictedUnpickler.dispatch)

    def __init__(self, file: BinaryIO, *, limit: int, **kwargs: Any) -> None:
        super().__init__(file, limit=limit, **kwargs)
        self._fh = file
        self._path = getattr(file, "name", None)
        self._size = os.fstat(file.fileno()).st_size if self._path else None

    def _payload(self, n: int) -> Any:
        frame = self._unframer.current_frame
        in_frame = False
        if frame is not None:
            here = frame.tell()
            in_frame = frame.seek(0, io.SEEK_END) > here
            frame.seek(here)
        if in_frame or self._size is None or n < MIN_MAPPED_BYTES:
            data = self.read(n)
            if len(data) != n:
                raise pickle.UnpicklingError("data ends before the declared array payload")
            return data
        self._unframer.current_frame = None
        offset = self._fh.tell()
        if offset + n > self._size:
            raise pickle.UnpicklingError(
                f"the array data needs {n} bytes from offset {offset}, the file has "
                f"{self._size - offset} (truncated file)"
            )
        self._fh.seek(offset + n)
        return _Span(offset, n)

    def load_binbytes(self) -> None:
        (n,) = struct.unpack("<I", self.read(4))
        self.append(self._payload(n))

    def load_binbytes8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(self._payload(n))

    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8

    def load_build(self) -> None:
        state = self.stack[-1]
        target = self.stack[-2]
        mapped = isinstance(state, tuple) and bool(state) and isinstance(state[-1], _Span)
        if isinstance(target, np.ndarray) and mapped:
            self.budget.array_state(state)
            shape, dtype, fortran = tuple(state[-4]), np.dtype(state[-3]), bool(state[-2])
            span = state[-1]
            if dtype.hasobject or math.prod(shape) * dtype.itemsize != span.nbytes:
                raise pickle.UnpicklingError(
                    f"array state of {dtype} {shape} does not match its {span.nbytes} bytes"
                )
            self.stack.pop()
            self.stack[-1] = np.memmap(
                self._path,
                dtype=dtype,
                mode="r",
                offset=span.offset,
                shape=shape,
                order="F" if fortran else "C",
            )
            return
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


@dataclass(frozen=True)
class RawSession:
    """One raw session file: ``data[channel, sample]`` (a read-only memmap of the file when
    possible) with its channel names and types and the sampling rate."""

    path: Path
    data: np.ndarray
    ch_names: list[str]
    ch_types: list[str]
    sfreq: float
    extra: dict[str, Any] = field(default_factory=dict)  # highpass, lowpass when present

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def stim_index(self) -> int:
        return self.ch_names.index(RAW_STIM_CHANNEL)

    @property
    def eeg_names(self) -> list[str]:
        """The EEG channels in recording order (every channel of type ``eeg``)."""
        return [n for n, t in zip(self.ch_names, self.ch_types, strict=True) if t == "eeg"]

    def rows(self, names: list[str]) -> np.ndarray:
        """A float64 in-memory copy of the named channels' rows, in the given order."""
        index = [self.ch_names.index(n) for n in names]
        return np.asarray(self.data[index], dtype=np.float64)


def raw_file(raw_dir: Path, subject: int, session: int, split: str) -> Path:
    """``RAW_DIR/sub-XX/ses-0Y/raw_eeg_{training,test}.npy``."""
    return Path(raw_dir) / subject_folder(subject) / session_folder(session) / RAW_FILES[split]


def raw_session_files(raw_dir: Path, subject: int) -> dict[tuple[int, str], Path]:
    """The subject's eight files by (session, split); a DataError names the first missing one."""
    files = {}
    for session in range(1, RAW_SESSIONS + 1):
        for split in ("test", "train"):
            path = raw_file(raw_dir, subject, session, split)
            if not path.is_file():
                raise DataError(
                    f"{path}: missing raw session file (a subject needs {RAW_SESSIONS} sessions "
                    f"with {RAW_FILES['train']} and {RAW_FILES['test']})"
                )
            files[session, split] = path
    return files


def read_raw_session(path: Path) -> RawSession:
    """Open and validate one raw session file; every problem is a one-line DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing raw session file")
    with open(path, "rb") as fh:
        head = fh.read(len(NPY_MAGIC))
        if head != NPY_MAGIC:
            found = "an empty file" if not head else f"first bytes {head!r}"
            raise DataError(f"{path}: expected an np.save-d raw EEG dict (npy), found {found}")
        fh.seek(0)
        content = load_npy_object(fh, path, _MappingUnpickler)
    return _validate(path, content)


def _validate(path: Path, content: Any) -> RawSession:
    if not isinstance(content, dict):
        raise DataError(
            f"{path}: expected a dict with keys {', '.join(RAW_KEYS)}, "
            f"found {type(content).__name__}"
        )
    missing = [k for k in RAW_KEYS if k not in content]
    if missing:
        found = ", ".join(sorted(map(str, content))) or "none"
        raise DataError(
            f"{path}: expected keys {', '.join(RAW_KEYS)}; missing {', '.join(missing)} "
            f"(found: {found})"
        )
    data = content[RAW_DATA_KEY]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.kind != "f":
        raise DataError(
            f"{path}: expected {RAW_DATA_KEY} as a 2-D float array (channels, samples), "
            f"found {_describe(data)}"
        )
    names = _strings(path, content[RAW_CH_NAMES_KEY], RAW_CH_NAMES_KEY)
    types = _strings(path, content[RAW_CH_TYPES_KEY], RAW_CH_TYPES_KEY)
    if not len(names) == len(types) == data.shape[0]:
        raise DataError(
            f"{path}: expected one ch_names and ch_types entry per {RAW_DATA_KEY} row "
            f"({data.shape[0]}), found {len(names)} names and {len(types)} types"
        )
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{path}: channel name {twice!r} appears more than once")
    if RAW_STIM_CHANNEL not in names:
        raise DataError(
            f"{path}: no stim channel (expected a channel named {RAW_STIM_CHANNEL!r} holding "
            "the event codes)"
        )
    if "eeg" not in types:
        raise DataError(f"{path}: no channel of type 'eeg' in ch_types")
    sfreq = content[RAW_SFREQ_KEY]
    if isinstance(sfreq, np.ndarray) and sfreq.shape == ():
        sfreq = sfreq.item()
    if isinstance(sfreq, bool) or not isinstance(sfreq, int | float | np.number):
        raise DataError(f"{path}: expected sfreq as a number, found {_describe(sfreq)}")
    sfreq = float(sfreq)
    if not math.isfinite(sfreq) or sfreq <= 0:
        raise DataError(f"{path}: expected a positive sfreq, found {sfreq}")
    if data.shape[1] < 2:
        raise DataError(f"{path}: {RAW_DATA_KEY} holds no samples")
    extra = {k: content[k] for k in RAW_OPTIONAL_KEYS if k in content}
    return RawSession(path, data, names, types, sfreq, extra)


def _strings(path: Path, raw: Any, key: str) -> list[str]:
    values = list(raw) if isinstance(raw, list | tuple | np.ndarray) else None
    if values is None or not all(isinstance(v, str | np.str_) for v in values):
        raise DataError(f"{path}: expected {key} as a list of strings, found {_describe(raw)}")
    return [str(v) for v in values]


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
