"""The streaming pickle container: arrays written chunk by chunk, byte-identical to ``pickle``.

A full-scale EEG file is tens of GB; :class:`LazyArray` stands for an array whose rows are
produced on demand, and :func:`dump_pickle` / :func:`dump_npy_object` write it in the releases'
containers without ever holding it in memory.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from trainables.things_eeg2.formats import PICKLE_PROTOCOL


class _StreamedBytes:
    """Stands for a bytes object of known length whose content comes from an iterator."""

    def __init__(self, nbytes: int, chunks: Callable[[], Iterator[np.ndarray]]) -> None:
        self.nbytes = nbytes
        self.chunks = chunks


class LazyArray:
    """An array pickled like ``numpy.ndarray`` but produced chunk by chunk along axis 0."""

    def __init__(
        self, shape: tuple[int, ...], dtype: np.dtype, chunks: Callable[[], Iterator[np.ndarray]]
    ) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.chunks = chunks

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def _checked(self) -> Iterator[np.ndarray]:
        for chunk in self.chunks():
            if chunk.dtype != self.dtype or chunk.shape[1:] != self.shape[1:]:
                raise ValueError(f"chunk {chunk.dtype} {chunk.shape} does not fit {self.shape}")
            yield np.ascontiguousarray(chunk)

    def reduce(self) -> tuple[Any, ...]:
        func, args, state = np.empty(0, dtype=self.dtype).__reduce_ex__(PICKLE_PROTOCOL)
        version, _, dtype, fortran, _ = state
        return (
            func,
            args,
            (version, self.shape, dtype, fortran, _StreamedBytes(self.nbytes, self._checked)),
        )


class _StreamingPickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pure-Python pickler that writes :class:`LazyArray` payloads straight to the file.

    It reuses the standard library's pure-Python pickler (its framer and ``save_bytes``), so
    the output is byte-identical to ``pickle.dump`` (protocol 4) of the materialised array;
    tests pin that equality.
    """

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, LazyArray):
            return obj.reduce()
        return NotImplemented

    def _save_streamed(self, obj: _StreamedBytes) -> None:
        n = obj.nbytes
        framer = self.framer
        if n < framer._FRAME_SIZE_TARGET:  # small: exactly what pickle does with the bytes
            data = b"".join(memoryview(chunk).cast("B") for chunk in obj.chunks())
            if len(data) != n:
                raise ValueError(f"streamed {len(data)} bytes, declared {n}")
            self.save_bytes(data)
            return
        if n > 0xFFFFFFFF:
            header = pickle.BINBYTES8 + n.to_bytes(8, "little")
        else:
            header = pickle.BINBYTES + n.to_bytes(4, "little")
        if framer.current_frame:
            framer.commit_frame(force=True)
        framer.file_write(header)
        written = 0
        for chunk in obj.chunks():
            framer.file_write(memoryview(chunk).cast("B"))
            written += chunk.nbytes
        if written != n:
            raise ValueError(f"streamed {written} bytes, declared {n}")
        self.memoize(obj)

    dispatch[_StreamedBytes] = _save_streamed


def dump_pickle(payload: Any, fh: BinaryIO) -> None:
    """``pickle.dump(payload, fh, protocol=4)`` where LazyArray values are streamed."""
    _StreamingPickler(fh, protocol=PICKLE_PROTOCOL).dump(payload)


def dump_npy_object(payload: Any, fh: BinaryIO) -> None:
    """``np.save(fh, payload)`` of a Python object (0-d object array), LazyArrays streamed."""
    holder = np.empty((), dtype=object)
    holder[()] = payload
    np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(holder))
    dump_pickle(holder, fh)
