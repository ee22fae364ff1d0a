"""Linear alignment transforms (gLocal's published form) applied to a base backbone's embedding.

gLocal publishes ``transform.npz`` with ``weights`` (in_dim, out_dim), optional ``bias``
(out_dim,) and the standardisation it was fitted on, ``mean`` and ``std`` (scalars or (in_dim,)):
``y = ((x - mean) / std) @ weights + bias``. Also read: a ``.npy`` matrix (in_dim, out_dim);
a ``.pt`` file (``torch.load(weights_only=True)``) holding such a tensor, a dict with gLocal's
keys, or an ``nn.Linear`` state dict (``weight`` (out_dim, in_dim), optional ``bias``).
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from pickle import UnpicklingError
from typing import Any

import numpy as np

from trainables.common.errors import DataError

SUFFIXES = (".npz", ".npy", ".pt")
GLOCAL_KEYS = ("weights", "bias", "mean", "std")


@dataclass(frozen=True)
class LinearTransform:
    """``y = ((x - mean) / std) @ weights + bias``, in float64."""

    weights: np.ndarray  # (in_dim, out_dim)
    bias: np.ndarray | None = None  # (out_dim,)
    mean: np.ndarray | None = None  # scalar or (in_dim,)
    std: np.ndarray | None = None  # scalar or (in_dim,)

    @property
    def in_dim(self) -> int:
        return int(self.weights.shape[0])

    @property
    def out_dim(self) -> int:
        return int(self.weights.shape[1])

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The transformed rows of ``x`` (n, in_dim), as float32."""
        y = np.asarray(x, dtype=np.float64)
        if self.mean is not None:
            y = y - self.mean
        if self.std is not None:
            y = y / self.std
        y = y @ self.weights
        if self.bias is not None:
            y = y + self.bias
        return y.astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "bias": self.bias is not None,
            "standardise": self.mean is not None or self.std is not None,
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _from_mapping(data: dict[str, Any], path: Path) -> LinearTransform:
    if "weights" in data:
        weights = data["weights"]
    elif "weight" in data:  # nn.Linear layout: (out_dim, in_dim)
        weights = np.asarray(data["weight"]).T
    else:
        found = ", ".join(sorted(map(str, data))) or "none"
        raise DataError(
            f"{path}: no 'weights' matrix (gLocal's keys: {', '.join(GLOCAL_KEYS)}; found {found})"
        )
    parts = {k: data.get(k) for k in ("bias", "mean", "std")}
    arrays = {k: None if v is None else np.asarray(v, dtype=np.float64) for k, v in parts.items()}
    return _checked(np.asarray(weights, dtype=np.float64), path, **arrays)


def _checked(weights: np.ndarray, path: Path, **parts: np.ndarray | None) -> LinearTransform:
    if weights.ndim != 2 or 0 in weights.shape:
        raise DataError(f"{path}: the transform matrix must be 2-D, found shape {weights.shape}")
    in_dim, out_dim = weights.shape
    shapes = {"bias": ((out_dim,),), "mean": ((), (in_dim,)), "std": ((), (in_dim,))}
    for key, value in parts.items():
        if value is not None and value.shape not in shapes[key]:
            raise DataError(
                f"{path}: '{key}' has shape {value.shape}, expected one of {list(shapes[key])} "
                f"for a {in_dim} x {out_dim} matrix"
            )
    for key, value in (("weights", weights), *parts.items()):
        if value is not None and not np.isfinite(value).all():
            raise DataError(f"{path}: '{key}' holds non-finite values")
    if parts.get("std") is not None and (parts["std"] == 0).any():
        raise DataError(f"{path}: 'std' holds zeros")
    return LinearTransform(weights, parts.get("bias"), parts.get("mean"), parts.get("std"))


def _load_pt(path: Path) -> Any:
    import torch

    data = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(data, torch.Tensor):
        return data.double().numpy()
    if isinstance(data, dict):
        return {
            k: v.double().numpy() if isinstance(v, torch.Tensor) else v for k, v in data.items()
        }
    return data


def load_transform(path: Path) -> LinearTransform:
    """Read a transform file; any problem is a one-line DataError naming the file."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: a transform must be one of {', '.join(SUFFIXES)} files")
    if not path.is_file():
        raise DataError(f"{path}: transform file not found")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                data: Any = {k: npz[k] for k in npz.files}
        elif path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            data = _load_pt(path)
    except (
        OSError,
        ValueError,
        RuntimeError,
        EOFError,
        UnpicklingError,
        zipfile.BadZipFile,
    ) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(f"{path}: unreadable transform ({type(exc).__name__}: {first})") from None
    if isinstance(data, dict):
        return _from_mapping(data, path)
    if isinstance(data, np.ndarray) and data.dtype.kind in "fiu":
        return _checked(data.astype(np.float64), path)
    raise DataError(
        f"{path}: expected a matrix or a mapping of arrays, found {type(data).__name__}"
    )
