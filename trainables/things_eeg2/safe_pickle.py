"""A restricted unpickler for dataset files: numpy arrays, dtypes, scalars and plain containers.

Loading a pickle runs whatever callables it names. Every dataset pickle (THINGS-EEG2 EEG files,
``image_metadata.npy``) goes through :func:`safe_load`, which resolves only the globals in
:data:`ALLOWED_GLOBALS` and refuses any other name before anything is called.

Even allowed callables can be asked for huge allocations by a few bytes (``bytearray(10**9)``,
an array of shape ``(10**9,)``), and numpy crashes on an object-array state shorter than its
shape. So sizes are capped before allocation: ``bytes``/``bytearray`` of an int, ``ndarray``,
``_reconstruct`` and every array state (BUILD) may ask for at most :func:`allocation_limit` bytes,
which a real file never approaches (its array data is stored in the file itself). BUILD can only
be checked by the pure-Python unpickler, which is used for that reason; big arrays are a single
opcode, so it costs little.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from trainables.common.errors import DataError


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as pickle protocol <= 2 uses it for bytes, limited to latin-1 text."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


# The callables numpy's own __reduce__ methods name, taken from them so the installed numpy's
# objects are used whichever spelling (numpy.core / numpy._core) a file was written with.
_NUMPY_FUNCTIONS: dict[str, Any] = {
    "multiarray._reconstruct": np.zeros(1).__reduce__()[0],
    "multiarray.scalar": np.float64(0).__reduce__()[0],
    "numeric._frombuffer": np.zeros(1).__reduce_ex__(5)[0],
}

_BUILTINS: dict[str, Any] = {
    t.__name__: t
    for t in (dict, list, tuple, set, frozenset, int, float, complex, bool, str, bytes, bytearray)
}

_RECONSTRUCT = _NUMPY_FUNCTIONS["multiarray._reconstruct"]

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("collections", "OrderedDict"): dict,
    **{("builtins", name): obj for name, obj in _BUILTINS.items()},
    **{("__builtin__", name): obj for name, obj in _BUILTINS.items()},
    **{
        (f"{package}.{qual.split('.')[0]}", qual.split(".")[1]): obj
        for package in ("numpy.core", "numpy._core")
        for qual, obj in _NUMPY_FUNCTIONS.items()
    },
}
"""(module, name) -> object: numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) spellings."""


SIZE_FLOOR = 1 << 20
SIZE_FACTOR = 16


def allocation_limit(file_size: int) -> int:
    """Most bytes one object of a ``file_size``-byte pickle may allocate (object arrays hold an
    8-byte pointer per element, which a memo reference can repeat in 2 bytes of file)."""
    return SIZE_FLOOR + SIZE_FACTOR * file_size


class AllocationRefusedError(pickle.UnpicklingError):
    """The pickle asks an allowed callable for more memory than its size can justify."""


class _Budget:
    """The allocation cap of one load, and the allowed callables wrapped to respect it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._guards: dict[Any, Any] = {
            bytes: self._sized_buffer(bytes),
            bytearray: self._sized_buffer(bytearray),
            np.ndarray: self._ndarray,
            _RECONSTRUCT: self._reconstruct,
        }

    def check(self, nbytes: int, what: str) -> None:
        if nbytes > self.limit:
            raise AllocationRefusedError(
                f"it asks for {what} of {nbytes} bytes, over the {self.limit}-byte cap for a "
                "file of this size"
            )

    def array_bytes(self, shape: Any, dtype: Any, what: str) -> None:
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        if not all(isinstance(d, int) for d in dims):
            raise pickle.UnpicklingError(f"{what} shape {shape!r} is not a tuple of ints")
        self.check(math.prod(max(d, 0) for d in dims) * np.dtype(dtype).itemsize, what)

    def guard(self, obj: Any) -> Any:
        """``obj`` itself, or a size-checking stand-in for a callable that can allocate."""
        return self._guards.get(obj, obj)

    def _sized_buffer(self, kind: type) -> Any:
        def make(source: Any = b"", *args: Any) -> Any:
            if isinstance(source, int):
                self.check(source, kind.__name__)
            return kind(source, *args)

        return make

    def _ndarray(self, shape: Any, dtype: Any = float, *args: Any) -> np.ndarray:
        self.array_bytes(shape, dtype, "an ndarray")
        return np.ndarray(shape, dtype, *args)

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not self._guards[np.ndarray]:
            raise pickle.UnpicklingError(f"_reconstruct of {subtype!r} is not allowed")
        self.array_bytes(shape, dtype, "an array")
        return _RECONSTRUCT(np.ndarray, shape, dtype)

    def array_state(self, state: Any) -> None:
        """Check an ndarray ``__setstate__`` argument before numpy allocates for it."""
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("malformed array state")
        shape, dtype, raw = state[-4], np.dtype(state[-3]), state[-1]
        self.array_bytes(shape, dtype, "an array state")
        count = math.prod(shape)
        if dtype.hasobject and (not isinstance(raw, list) or len(raw) != count):
            raise pickle.UnpicklingError(
                f"object array state of shape {tuple(shape)} does not hold {count} items"
            )


class ForbiddenGlobalError(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class RestrictedUnpickler(pickle._Unpickler):
    """Resolves only allow-listed globals (size-capped), checks array states, no persistent ids.

    The pure-Python unpickler (``pickle._Unpickler``), because only its BUILD can be intercepted.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, *, limit: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.budget = _Budget(limit)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.budget.guard(ALLOWED_GLOBALS[(module, name)])
        except KeyError:
            raise ForbiddenGlobalError(module, name) from None

    def load_build(self) -> None:
        if isinstance(self.stack[-2], np.ndarray):
            self.budget.array_state(self.stack[-1])
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_load(
    fh: BinaryIO, source: Path | str, unpickler: type[RestrictedUnpickler] | None = None
) -> Any:
    """Unpickle one object from ``fh``; any refusal or damage is a DataError naming ``source``.

    ``unpickler``: a subclass of :class:`RestrictedUnpickler` to use instead (same checks)."""
    limit = allocation_limit(_remaining_bytes(fh))
    try:
        return (unpickler or RestrictedUnpickler)(fh, limit=limit, encoding="latin1").load()
    except AllocationRefusedError as exc:
        raise DataError(
            f"{source}: refused to unpickle: {exc} (the file may be malicious); "
            "nothing was allocated"
        ) from None
    except ForbiddenGlobalError as exc:
        raise DataError(
            f"{source}: refused to unpickle: it names {exc.qualified_name}, which is not a numpy "
            f"array/dtype or plain container (the file may be malicious); nothing was executed"
        ) from None
    except (EOFError, pickle.UnpicklingError, struct.error) as exc:
        raise DataError(
            f"{source}: truncated or damaged pickle ({exc or 'unexpected end'})"
        ) from None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise DataError(f"{source}: damaged pickle ({type(exc).__name__}: {exc})") from None


def _remaining_bytes(fh: BinaryIO) -> int:
    """Bytes from the current position to the end of ``fh`` (a file or an in-memory buffer)."""
    try:
        return os.fstat(fh.fileno()).st_size - fh.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        here = fh.tell()
        size = fh.seek(0, io.SEEK_END) - here
        fh.seek(here)
        return size


def safe_loads(data: bytes, source: Path | str) -> Any:
    """:func:`safe_load` on an in-memory bytes object."""
    return safe_load(io.BytesIO(data), source)


def load_npy_object(
    fh: BinaryIO, source: Path | str, unpickler: type[RestrictedUnpickler] | None = None
) -> Any:
    """Read an ``np.save``-d 0-d object array from ``fh`` (at its start) and return its ``.item()``.

    The npy header is parsed by numpy's header reader; the pickled payload goes through the
    restricted unpickler (never ``np.load(allow_pickle=True)``).
    """
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported npy format version {version}")
    except (ValueError, EOFError, OSError) as exc:
        raise DataError(f"{source}: damaged npy header ({exc})") from None
    if dtype != np.dtype(object) or shape != ():
        raise DataError(
            f"{source}: expected an np.save-d dict (0-d object array), found {dtype} array {shape}"
        )
    array = safe_load(fh, source, unpickler)
    if not isinstance(array, np.ndarray) or array.dtype != object or array.shape != ():
        raise DataError(
            f"{source}: expected a 0-d object array payload, found {type(array).__name__}"
        )
    return array.item()
