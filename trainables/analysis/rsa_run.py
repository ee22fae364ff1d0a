"""RSA of a dataset: read the test EEG and the backbones' test embeddings, compute per subject
and window, and the noise ceiling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainables.analysis.rsa import (
    MIN_IMAGES,
    NoiseCeiling,
    RsaSettings,
    Windows,
    eeg_rdms,
    make_windows,
    noise_ceiling,
    rank_rdms,
    rdms,
    standard_ranks,
    standardise,
)
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.store import load_store
from trainables.things_eeg2.layout import DataLayout, find_layout
from trainables.things_eeg2.loader import dataset_images, load_subject_split
from trainables.things_eeg2.prepared_cache import (
    MANIFEST,
    PreparedEEG,
    default_cache_dir,
    entry_dir,
)

SPLIT = "test"


@dataclass
class RsaInputs:
    """The test split's images: each backbone's embeddings and each subject's averaged EEG."""

    layout: DataLayout
    embeddings: dict[str, np.ndarray]  # backbone -> (images, dim)
    eeg: dict[int, PreparedEEG]  # subject -> prepared test split
    store_sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    image_list_sha256: str = ""

    @property
    def reference(self) -> PreparedEEG:
        return next(iter(self.eeg.values()))


@dataclass
class RsaResult:
    """RSA per backbone, subject and window; the EEG noise ceiling; how they were computed."""

    settings: RsaSettings
    windows: Windows
    subjects: list[int]
    rsa: dict[str, np.ndarray]  # backbone -> (subjects, windows) Spearman correlations
    ceiling: NoiseCeiling | None  # None with fewer than two subjects
    facts: dict[str, Any]

    @property
    def backbones(self) -> list[str]:
        return list(self.rsa)

    def mean(self, backbone: str) -> np.ndarray:
        """Mean over subjects per window."""
        return self.rsa[backbone].mean(axis=0)

    def peak(self, backbone: str) -> tuple[float, float]:
        """(highest subject-mean RSA, centre time of its window in seconds)."""
        curve = self.mean(backbone)
        best = int(np.argmax(curve))
        return float(curve[best]), float(self.windows.centre_s[best])


def load_rsa_inputs(
    data_root: Path,
    backbones: Sequence[str],
    subjects: Sequence[int] | None = None,
    cache_dir: Path | None = None,
    *,
    embeddings_dir: Path | None = None,
    cached_only: bool = False,
) -> RsaInputs:
    """Test embeddings of ``backbones`` (stores refused unless made for this dataset's image
    lists) and the repetition-averaged test EEG of ``subjects`` (default: all). Stores are read
    from ``embeddings_dir`` (default: ``<data root>/embeddings``).

    ``cached_only`` reads only subjects whose test split is already in the prepared cache (no
    EEG file is parsed; a DataError if none is).
    """
    names = list(backbones)
    if not names:
        raise ConfigError("no backbones given (--backbones LIST)")
    if len(set(names)) != len(names):
        raise ConfigError(f"backbones listed twice: {', '.join(names)}")
    layout = find_layout(Path(data_root), embeddings_dir=embeddings_dir)
    images = dataset_images(layout)
    n_images = len(images.test)
    if n_images < MIN_IMAGES:
        raise DataError(
            f"{images.root}: RSA needs at least {MIN_IMAGES} test images, found {n_images}"
        )
    stores = {
        name: load_store(
            layout.embeddings_dir,
            name,
            expected_hashes={SPLIT: images.test.sha256},
            expected_counts={SPLIT: n_images},
        )
        for name in names
    }
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(layout.root)
    chosen = _subjects(layout, subjects, SPLIT)
    if cached_only:
        chosen = [s for s in chosen if _cached(layout, s, cache_dir)]
        if not chosen:
            raise DataError(
                f"{cache_dir}: no subject's {SPLIT} EEG is in the prepared cache; run `study rsa`"
            )
    eeg = {s: load_subject_split(layout, s, SPLIT, images.test, cache_dir) for s in chosen}
    _check_same_axes(list(eeg.values()))
    return RsaInputs(
        layout=layout,
        embeddings={name: np.asarray(store.test) for name, store in stores.items()},
        eeg=eeg,
        store_sources={name: store.manifest.source for name, store in stores.items()},
        image_list_sha256=images.test.sha256,
    )


def compute_rsa(inputs: RsaInputs, settings: RsaSettings) -> RsaResult:
    """RSA of every backbone with every subject's EEG per window, and the noise ceiling.

    Each subject's EEG RDMs are ranked once and kept as float32 ranks (exact: whole and half
    numbers below 2**24), shared by every backbone and the ceiling.
    """
    ref = inputs.reference
    windows = make_windows(ref.times, ref.sfreq, settings)
    names = list(inputs.embeddings)
    models = np.stack([_model_ranks(inputs, name, settings) for name in names])
    subjects = list(inputs.eeg)
    rsa = np.empty((len(names), len(subjects), len(windows)))
    subject_ranks = []
    for i, subject in enumerate(subjects):
        ranks = rank_rdms(_eeg_rdms(inputs.eeg[subject], windows, settings))
        rsa[:, i] = models @ standardise(ranks).T / ranks.shape[-1]
        subject_ranks.append(ranks.astype(np.float32))
    return RsaResult(
        settings=settings,
        windows=windows,
        subjects=subjects,
        rsa=dict(zip(names, rsa, strict=True)),
        ceiling=noise_ceiling(subject_ranks),
        facts=_facts(inputs),
    )


def _model_ranks(inputs: RsaInputs, name: str, settings: RsaSettings) -> np.ndarray:
    """Standardised ranks of ``name``'s image RDM."""
    model = rdms(inputs.embeddings[name], settings.image_distance)
    if not np.isfinite(model).all():
        raise DataError(
            f"{inputs.layout.embeddings_dir / name}: {settings.image_distance} distance is "
            f"undefined for some test embeddings (constant or all-zero rows)"
        )
    return standard_ranks(model)


def run_rsa(
    data_root: Path,
    backbones: Sequence[str],
    settings: RsaSettings,
    subjects: Sequence[int] | None = None,
    cache_dir: Path | None = None,
    *,
    embeddings_dir: Path | None = None,
    cached_only: bool = False,
) -> RsaResult:
    """:func:`load_rsa_inputs` then :func:`compute_rsa`."""
    inputs = load_rsa_inputs(
        data_root,
        backbones,
        subjects,
        cache_dir,
        embeddings_dir=embeddings_dir,
        cached_only=cached_only,
    )
    return compute_rsa(inputs, settings)


def _subjects(layout: DataLayout, requested: Sequence[int] | None, split: str) -> list[int]:
    if requested is None:
        return list(layout.subjects)
    chosen = sorted(set(int(s) for s in requested))
    missing = [s for s in chosen if s not in layout.subjects]
    if not chosen or missing:
        found = ", ".join(str(s) for s in layout.subjects)
        raise DataError(
            f"{layout.eeg_dir}: expected subjects {', '.join(map(str, missing or chosen))} "
            f"with {split} EEG, found only {found}"
        )
    return chosen


def _cached(layout: DataLayout, subject: int, cache_dir: Path) -> bool:
    source = layout.eeg_file(subject, SPLIT)
    return source.is_file() and (entry_dir(cache_dir, source) / MANIFEST).is_file()


def _check_same_axes(prepared: list[PreparedEEG]) -> None:
    ref = prepared[0]
    for other in prepared[1:]:
        same = (
            other.ch_names == ref.ch_names
            and other.sfreq == ref.sfreq
            and other.times.shape == ref.times.shape
            and np.allclose(other.times, ref.times, atol=1e-6)
        )
        if not same:
            raise DataError(
                f"{other.source}: expected the channels and time axis of {ref.source} "
                f"({len(ref.ch_names)} channels, {len(ref.times)} samples at {ref.sfreq:g} Hz), "
                f"found {len(other.ch_names)} channels, {len(other.times)} samples at "
                f"{other.sfreq:g} Hz"
            )


def _eeg_rdms(prepared: PreparedEEG, windows: Windows, settings: RsaSettings) -> np.ndarray:
    out = eeg_rdms(prepared.mean, windows, settings.eeg_distance)
    if not np.isfinite(out).all():
        raise DataError(
            f"{prepared.source}: {settings.eeg_distance} distance is undefined for some test "
            f"images' EEG (a constant pattern within a window)"
        )
    return out


def _facts(inputs: RsaInputs) -> dict[str, Any]:
    ref = inputs.reference
    return {
        "data_root": str(inputs.layout.root),
        "release_format": ref.format,
        "n_images": int(ref.mean.shape[0]),
        "n_channels": len(ref.ch_names),
        "sfreq": ref.sfreq,
        "times_s": [float(ref.times[0]), float(ref.times[-1])],
        "test_repetitions_averaged": sorted({p.n_repetitions for p in inputs.eeg.values()}),
        "test_image_list_sha256": inputs.image_list_sha256,
        "embedding_sources": inputs.store_sources,
    }
