"""Per-backbone image embedding stores: train/test float32 matrices in dataset order + manifest.

Layout of one store (``<root>/<backbone>/``)::

    train.npy      float32 (n_train_images, dim), row i = i-th training image in dataset order
    test.npy       float32 (n_test_images, dim)
    manifest.json  backbone, dim, source (model/call/version), preprocessing, normalisation,
                   n_train, n_test, image_list_sha256 {"train": ..., "test": ...}

The manifest is written last, so a store without a manifest is incomplete and never read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainables.common.atomic import save_json_atomic, save_npy_atomic
from trainables.common.errors import DataError
from trainables.common.finite import require_finite

MANIFEST = "manifest.json"
REQUIRED_FIELDS = ("backbone", "dim", "n_train", "n_test", "image_list_sha256")
SPLIT_FILES = {"train": "train.npy", "test": "test.npy"}


def image_list_hash(relative_paths: Sequence[str]) -> str:
    """SHA-256 of the ordered image list (POSIX relative paths, one per line)."""
    digest = hashlib.sha256()
    for rel in relative_paths:
        digest.update(rel.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass
class StoreManifest:
    """What produced a store's embeddings, and for which ordered image lists."""

    backbone: str
    dim: int
    n_train: int
    n_test: int
    image_list_sha256: dict[str, str]
    source: dict[str, Any] = field(default_factory=dict)
    preprocessing: str = ""
    normalisation: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> StoreManifest:
        """Build from parsed JSON; a wrong shape or type is a ValueError saying which field."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        missing = [k for k in REQUIRED_FIELDS if k not in data]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        for key in ("dim", "n_train", "n_test"):
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a positive integer, found {value!r}")
        hashes = data["image_list_sha256"]
        if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
            raise ValueError("image_list_sha256 must map split names to hash strings")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class EmbeddingStore:
    """A loaded store: matrices are memory-mapped float32 arrays."""

    path: Path
    manifest: StoreManifest
    train: np.ndarray
    test: np.ndarray


def store_dir(root: Path, backbone: str) -> Path:
    return Path(root) / backbone


def list_stores(root: Path) -> list[str]:
    """Backbone names with a complete store (manifest present) under ``root``."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file())


def write_store(
    root: Path,
    manifest: StoreManifest,
    train: np.ndarray,
    test: np.ndarray,
) -> Path:
    """Write matrices then manifest, each atomically; returns the store directory."""
    train = np.ascontiguousarray(train, dtype=np.float32)
    test = np.ascontiguousarray(test, dtype=np.float32)
    for name, arr, n in (("train", train, manifest.n_train), ("test", test, manifest.n_test)):
        if arr.ndim != 2 or arr.shape != (n, manifest.dim):
            raise ValueError(
                f"{name} embeddings have shape {arr.shape}, manifest says {(n, manifest.dim)}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} embeddings of {manifest.backbone} contain non-finite values")
    out = store_dir(root, manifest.backbone)
    (out / MANIFEST).unlink(missing_ok=True)
    save_npy_atomic(out / SPLIT_FILES["train"], train)
    save_npy_atomic(out / SPLIT_FILES["test"], test)
    save_json_atomic(out / MANIFEST, manifest.to_dict())
    return out


def read_manifest(root: Path, backbone: str) -> StoreManifest:
    path = store_dir(root, backbone) / MANIFEST
    if not path.is_file():
        available = ", ".join(list_stores(root)) or "none"
        raise DataError(
            f"{path}: no embedding store for backbone '{backbone}' (stores found: {available}); "
            f"run `study embed --backbones {backbone}` first"
        )
    try:
        return StoreManifest.from_dict(json.loads(path.read_bytes()))
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: unreadable store manifest ({_one_line(exc)})") from None


def load_store(
    root: Path,
    backbone: str,
    expected_hashes: dict[str, str] | None = None,
    expected_counts: dict[str, int] | None = None,
) -> EmbeddingStore:
    """Load a store; refuse it if its image lists (hashes, counts) differ from the dataset's.

    Every matrix is read once to refuse NaN/inf rows.
    """
    manifest = read_manifest(root, backbone)
    out = store_dir(root, backbone)
    if expected_hashes is not None:
        for split, expected in expected_hashes.items():
            found = manifest.image_list_sha256.get(split)
            if found != expected:
                raise DataError(
                    f"{out / MANIFEST}: embedding store '{backbone}' was computed for a different "
                    f"{split} image list (hash {str(found)[:12]}, dataset has {expected[:12]}); "
                    f"re-run `study embed` for this dataset"
                )
    for split, expected in (expected_counts or {}).items():
        found = getattr(manifest, f"n_{split}")
        if found != expected:
            raise DataError(
                f"{out / MANIFEST}: n_{split} is {found}, but the dataset's {split} image list "
                f"has {expected} images; re-run `study embed` for this dataset"
            )
    arrays = {}
    for split, n in (("train", manifest.n_train), ("test", manifest.n_test)):
        path = out / SPLIT_FILES[split]
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read embedding matrix ({exc})") from exc
        if arr.dtype != np.float32 or arr.shape != (n, manifest.dim):
            raise DataError(
                f"{path}: expected float32 {(n, manifest.dim)}, found {arr.dtype} {arr.shape}"
            )
        require_finite(arr, path, f"{backbone} embeddings")
        arrays[split] = arr
    return EmbeddingStore(path=out, manifest=manifest, train=arrays["train"], test=arrays["test"])


def _one_line(exc: Exception) -> str:
    return str(exc).replace("\n", " ")
