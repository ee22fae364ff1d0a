"""A restricted unpickler for dataset files: numpy arrays, dtypes, scalars and plain containers.

Loading a pickle runs whatever callables it names. Every dataset pickle (THINGS-EEG2 EEG files,
``image_metadata.npy``) goes through :func:`safe_load`, which resolves only the globals in
:data:`ALLOWED_GLOBALS` and refuses any other name before anything is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from trainables.errors import DataError


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


class ForbiddenGlobalError(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals and has no persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_load(fh: BinaryIO, source: Path | str) -> Any:
    """Unpickle one object from ``fh``; any refusal or damage is a DataError naming ``source``."""
    try:
        return RestrictedUnpickler(fh, encoding="latin1").load()
    except ForbiddenGlobalError as exc:
        raise DataError(
            f"{source}: refused to unpickle: it names {exc.qualified_name}, which is not a numpy "
            f"array/dtype or plain container (the file may be malicious); nothing was executed"
        ) from None
    except (EOFError, pickle.UnpicklingError) as exc:
        raise DataError(
            f"{source}: truncated or damaged pickle ({exc or 'unexpected end'})"
        ) from None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise DataError(f"{source}: damaged pickle ({type(exc).__name__}: {exc})") from None


def safe_loads(data: bytes, source: Path | str) -> Any:
    """:func:`safe_load` on an in-memory bytes object."""
    return safe_load(io.BytesIO(data), source)


NPY_MAGIC = b"\x93NUMPY"


def load_npy_object(fh: BinaryIO, source: Path | str) -> Any:
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
    array = safe_load(fh, source)
    if not isinstance(array, np.ndarray) or array.dtype != object or array.shape != ():
        raise DataError(
            f"{source}: expected a 0-d object array payload, found {type(array).__name__}"
        )
    return array.item()
