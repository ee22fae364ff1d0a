"""Representational similarity analysis (RSA) between image embeddings and EEG, numpy only.

A representational dissimilarity matrix (RDM) is kept as its condensed upper triangle (the
order of ``scipy.spatial.distance.pdist``). Distances are ``1 - Pearson correlation`` of two
patterns ("correlation") or ``1 - cosine similarity`` ("cosine"). EEG patterns are the
channels x samples of one time window, flattened. RSA is the Spearman correlation of a model
RDM with a subject's EEG RDM. The noise ceiling follows Nili et al. (2014): over subjects,
each subject's ranked RDM against the mean of all subjects' ranked RDMs (upper bound) and of
the other subjects' (lower bound).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trainables.common.errors import ConfigError
from trainables.common.validation import STRICT

Distance = Literal["correlation", "cosine"]
DISTANCES: tuple[str, ...] = ("correlation", "cosine")
MIN_IMAGES = 4  # fewer images leave too few pairs (3 pairs at 3 images) for a rank correlation


@dataclass(frozen=True)
class RsaSettings:
    """Window width and step in seconds (None: one sample) and the two RDMs' distances."""

    __pydantic_config__ = STRICT
    window_s: float | None = None
    step_s: float | None = None
    image_distance: Distance = "correlation"
    eeg_distance: Distance = "correlation"

    def __post_init__(self) -> None:
        for name in ("window_s", "step_s"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ConfigError(f"--{name.removesuffix('_s')} must be > 0 seconds, got {value}")
        for name in ("image_distance", "eeg_distance"):
            if getattr(self, name) not in DISTANCES:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be one of {', '.join(DISTANCES)}, "
                    f"got {getattr(self, name)!r}"
                )


@dataclass(frozen=True)
class Windows:
    """Sliding windows over an epoch: sample ``starts[w]`` .. ``starts[w] + width - 1``."""

    starts: np.ndarray  # int, first sample of each window
    width: int  # samples per window
    step: int  # samples between window starts
    start_s: np.ndarray  # time of each window's first sample
    end_s: np.ndarray  # time of each window's last sample
    centre_s: np.ndarray  # mean time of each window's samples

    def __len__(self) -> int:
        return int(self.starts.size)


def make_windows(times: np.ndarray, sfreq: float, settings: RsaSettings) -> Windows:
    """Windows of ``settings.window_s`` every ``settings.step_s`` (rounded to whole samples,
    at least one); a window longer than the epoch is a ConfigError."""
    times = np.asarray(times, dtype=np.float64)
    n = int(times.size)
    width = _samples(settings.window_s, sfreq, n)
    step = _samples(settings.step_s, sfreq, n)
    if width > n:
        raise ConfigError(
            f"--window {settings.window_s:g} s is longer than the epoch ({n} samples at "
            f"{sfreq:g} Hz, {times[0]:.3f}..{times[-1]:.3f} s)"
        )
    starts = np.arange(0, n - width + 1, step)
    ends = starts + width - 1
    centres = np.array([times[s : s + width].mean() for s in starts])
    return Windows(starts, width, step, times[starts], times[ends], centres)


def _samples(seconds: float | None, sfreq: float, n: int) -> int:
    """``seconds`` in whole samples (half up), at least 1, at most ``n + 1`` (longer than the
    epoch)."""
    if seconds is None:
        return 1
    samples = seconds * sfreq + 0.5
    return n + 1 if not samples < n + 1 else max(1, math.floor(samples))


def pair_count(n_images: int) -> int:
    return n_images * (n_images - 1) // 2


def rdms(patterns: np.ndarray, distance: Distance) -> np.ndarray:
    """Condensed RDMs of ``patterns`` (..., images, features) -> (..., pairs), float64.

    Computed as one matrix product per RDM; rows whose distance is undefined (a constant
    pattern for "correlation", an all-zero one for "cosine") give NaN.
    """
    x = np.asarray(patterns, dtype=np.float64)
    if distance == "correlation":
        x = x - x.mean(axis=-1, keepdims=True)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = x / norms
    similarity = unit @ np.swapaxes(unit, -1, -2)
    rows, cols = np.triu_indices(x.shape[-2], k=1)
    return 1.0 - np.clip(similarity[..., rows, cols], -1.0, 1.0)


def eeg_rdms(eeg: np.ndarray, windows: Windows, distance: Distance) -> np.ndarray:
    """One subject's RDM per window: (images, channels, times) -> (windows, pairs)."""
    n_images = eeg.shape[0]
    out = np.empty((len(windows), pair_count(n_images)))
    for w, start in enumerate(windows.starts):
        patterns = np.asarray(eeg[:, :, start : start + windows.width]).reshape(n_images, -1)
        out[w] = rdms(patterns, distance)
    return out


def rank_rdms(rdm: np.ndarray) -> np.ndarray:
    """Ranks along the last axis from 1, ties given their mean rank: the same numbers as
    ``scipy.stats.rankdata(rdm, axis=-1)``, from one argsort (rankdata is several times slower
    on rows with many ties, such as sums of ranks)."""
    rdm = np.asarray(rdm, dtype=np.float64)
    n = rdm.shape[-1]
    order = np.argsort(rdm, axis=-1)
    ordered = np.take_along_axis(rdm, order, axis=-1)
    starts_run = np.ones(rdm.shape, dtype=bool)
    starts_run[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    run = np.cumsum(starts_run.ravel()) - 1  # every row starts a run: runs never span rows
    positions = np.broadcast_to(np.arange(1.0, n + 1), rdm.shape).ravel()
    mean_rank = np.bincount(run, weights=positions) / np.bincount(run)
    ranks = np.empty(rdm.shape)
    np.put_along_axis(ranks, order, mean_rank[run].reshape(rdm.shape), axis=-1)
    return ranks


def standardise(ranks: np.ndarray) -> np.ndarray:
    """Centred and scaled to unit RMS along the last axis (float64): the mean product of two
    standardised rank vectors is their Spearman correlation."""
    x = np.asarray(ranks, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return x / np.sqrt((x**2).mean(axis=-1, keepdims=True))


def standard_ranks(rdm: np.ndarray) -> np.ndarray:
    return standardise(rank_rdms(rdm))


def spearman(model: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Spearman correlation of RDM ``model`` (pairs,) with each row of ``data`` (..., pairs)."""
    return (standard_ranks(data) * standard_ranks(model)).mean(axis=-1)


@dataclass(frozen=True)
class NoiseCeiling:
    """Per window, the mean over subjects of the lower and upper bound (Nili et al. 2014)."""

    lower: np.ndarray
    upper: np.ndarray


def noise_ceiling(subject_ranks: Sequence[np.ndarray]) -> NoiseCeiling | None:
    """Ceiling from each subject's ranked (windows, pairs) EEG RDMs (:func:`rank_rdms`); None
    with fewer than two subjects.

    Each subject's ranks are standardised. Upper bound: the correlation of a subject's ranks
    with the mean of all subjects' ranks, averaged over subjects; no model RDM can have a
    higher mean Spearman correlation with these subjects. Lower bound: the Spearman
    correlation of a subject's RDM with the mean of the other subjects' ranks (leave one
    subject out), averaged over subjects.
    """
    n_subjects = len(subject_ranks)
    if n_subjects < 2:
        return None
    total = np.zeros(np.shape(subject_ranks[0]))
    for ranks in subject_ranks:
        total += standardise(ranks)
    unit_total = standardise(total)
    upper = np.zeros(total.shape[:-1])
    lower = np.zeros(total.shape[:-1])
    for ranks in subject_ranks:
        own = standardise(ranks)
        upper += (own * unit_total).mean(axis=-1) / n_subjects
        lower += (own * standard_ranks(total - own)).mean(axis=-1) / n_subjects
    return NoiseCeiling(lower=lower, upper=upper)
