"""Validation carved from the training images (subject protocols: ``protocols``).

The test split never enters here: validation is always a subset of the training images.
``concepts`` (default) holds out whole training concepts, so validation is zero-shot like the
test split; ``images`` holds out a random fraction of training images. Both are deterministic
functions of the seed. The default size is the full-scale 200 of 1654 concepts, scaled to the
dataset's number of concepts (or images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainables.common.errors import ConfigError

VAL_KINDS = ("concepts", "images")
FULL_SCALE_TRAIN_CONCEPTS = 1654
FULL_SCALE_VAL_CONCEPTS = 200


@dataclass(frozen=True)
class ValidationSplit:
    """Sorted indices into the training image list; ``held_out_concepts`` for kind concepts."""

    kind: str
    seed: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    held_out_concepts: list[str]

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary for ``DecodingData.protocol``."""
        return {
            "kind": self.kind,
            "seed": self.seed,
            "n_train_images": int(len(self.train_idx)),
            "n_val_images": int(len(self.val_idx)),
            "held_out_concepts": list(self.held_out_concepts),
        }


def default_val_count(n_units: int) -> int:
    """200 per 1654 (the full-scale concept ratio) of ``n_units``, at least 1."""
    return max(1, round(n_units * FULL_SCALE_VAL_CONCEPTS / FULL_SCALE_TRAIN_CONCEPTS))


def resolve_val_count(n_units: int, count: int | None, fraction: float | None) -> int:
    """Held-out units from an explicit count, a fraction, or the scaled default."""
    if count is not None and fraction is not None:
        raise ConfigError("give a validation count or a validation fraction, not both")
    if fraction is not None:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"validation fraction must be between 0 and 1, got {fraction}")
        count = max(1, round(fraction * n_units))
    elif count is None:
        count = default_val_count(n_units)
    if not 1 <= count < n_units:
        raise ConfigError(
            f"validation count must be between 1 and {n_units - 1} (of {n_units}), got {count}"
        )
    return count


def carve_validation(
    concepts: Sequence[str],
    kind: str = "concepts",
    seed: int = 0,
    count: int | None = None,
    fraction: float | None = None,
) -> ValidationSplit:
    """Split training images (``concepts[i]`` is image i's concept) into train and validation."""
    if kind not in VAL_KINDS:
        raise ConfigError(f"validation kind must be one of {', '.join(VAL_KINDS)}, got {kind!r}")
    labels = np.asarray(concepts)
    rng = np.random.default_rng(seed)
    if kind == "concepts":
        unique = np.unique(labels)
        n_val = resolve_val_count(len(unique), count, fraction)
        held_out = np.sort(rng.permutation(unique)[:n_val])
        is_val = np.isin(labels, held_out)
        held_out_names = [str(c) for c in held_out]
    else:
        n_val = resolve_val_count(len(labels), count, fraction)
        is_val = np.zeros(len(labels), dtype=bool)
        is_val[rng.permutation(len(labels))[:n_val]] = True
        held_out_names = []
    return ValidationSplit(
        kind=kind,
        seed=seed,
        train_idx=np.flatnonzero(~is_val),
        val_idx=np.flatnonzero(is_val),
        held_out_concepts=held_out_names,
    )
