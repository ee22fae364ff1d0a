"""The prepared arrays one trial trains and evaluates on (what goes into Ray's object store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class EvalSplit:
    """EEG of one or more subjects paired with the image embeddings of one gallery.

    ``eeg[s, i]`` is subject ``subjects[s]``'s repetition-averaged response to image ``i``,
    whose embedding is ``embeddings[i]``; the gallery for retrieval is all rows of ``embeddings``.
    ``repetitions[s, i, r]`` (training with k-of-n repetition draws only) is its repetition ``r``.
    """

    eeg: np.ndarray  # float32 (n_subjects, n_images, channels, times)
    embeddings: np.ndarray  # float32 (n_images, dim)
    subjects: list[int]
    repetitions: np.ndarray | None = None  # float32 (n_subjects, n_images, reps, channels, times)

    def __post_init__(self) -> None:
        if self.eeg.ndim != 4:
            raise ValueError(
                f"eeg must be (subjects, images, channels, times), got {self.eeg.shape}"
            )
        if self.eeg.shape[0] != len(self.subjects):
            raise ValueError(
                f"eeg has {self.eeg.shape[0]} subjects, subjects lists {len(self.subjects)}"
            )
        if self.eeg.shape[1] != self.embeddings.shape[0]:
            raise ValueError(
                f"{self.eeg.shape[1]} EEG images vs {self.embeddings.shape[0]} embedding rows"
            )
        reps = self.repetitions
        if reps is not None and (
            reps.ndim != 5
            or reps.shape[:2] != self.eeg.shape[:2]
            or reps.shape[3:] != self.eeg.shape[2:]
        ):
            raise ValueError(
                f"repetitions must be (subjects, images, reps, channels, times) matching eeg "
                f"{self.eeg.shape}, got {reps.shape}"
            )

    @property
    def n_images(self) -> int:
        return int(self.embeddings.shape[0])


@dataclass
class DecodingData:
    """Train / validation / (optionally) test arrays for one backbone.

    ``test`` is None during tuning: sweeps never see the test split. ``val`` is None for final
    training on the whole training set. ``protocol`` records how the arrays were obtained
    (release format, split kind and seed, repetition averaging, subjects) for reports.
    ``train_repetitions`` = k: each epoch trains on means of k of ``train.repetitions`` drawn
    per (subject, image); None: on ``train.eeg``.
    """

    train: EvalSplit
    val: EvalSplit | None
    test: EvalSplit | None
    backbone: str
    sfreq: float
    channels: list[str]
    protocol: dict[str, Any] = field(default_factory=dict)
    train_repetitions: int | None = None

    def __post_init__(self) -> None:
        k = self.train_repetitions
        if k is None:
            return
        reps = self.train.repetitions
        if reps is None or not 1 <= k <= reps.shape[2]:
            found = "none" if reps is None else reps.shape[2]
            raise ValueError(
                f"train_repetitions={k} needs 1..n training repetitions, found {found}"
            )

    @property
    def n_channels(self) -> int:
        return int(self.train.eeg.shape[2])

    @property
    def n_times(self) -> int:
        return int(self.train.eeg.shape[3])

    @property
    def embedding_dim(self) -> int:
        return int(self.train.embeddings.shape[1])
