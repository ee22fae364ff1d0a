"""Refuse NaN/inf in loaded data: a non-finite input makes every similarity tie or vanish."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.common.errors import DataError

CHUNK_BYTES = 1 << 26


def count_nonfinite(array: np.ndarray) -> int:
    """Number of NaN/inf entries, scanned in chunks so a memory map is never copied whole."""
    flat = np.asarray(array).reshape(-1)
    step = max(1, CHUNK_BYTES // max(1, flat.itemsize))
    return sum(
        int(np.count_nonzero(~np.isfinite(flat[i : i + step]))) for i in range(0, flat.size, step)
    )


def require_finite(array: np.ndarray, source: Path | str, what: str) -> None:
    """DataError naming ``source`` and the count if ``array`` holds any NaN or inf."""
    bad = count_nonfinite(array)
    if bad:
        raise DataError(
            f"{source}: expected finite {what}, found {bad} non-finite value(s) (NaN or inf)"
        )
