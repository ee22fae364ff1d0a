"""DecodingData with its EEG in Ray's object store once, shared by every backbone of a study.

A study sweeps several backbones over the same subjects and split, so their DecodingData differ
only in the (small) embedding matrices. ``share_eeg`` puts the EEG arrays into the object store
once (with the training split's per-repetition EEG, for k-of-n draws); ``SharedEEGData``
carries a reference to them plus one backbone's embeddings and metadata, and ``resolve()`` (in
the trial) rebuilds the DecodingData with zero-copy views of the EEG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit

SPLITS = ("train", "val", "test")


REPETITIONS = "train_repetitions"  # the training split's per-repetition EEG (k-of-n draws)


def _eeg_arrays(data: DecodingData) -> dict[str, np.ndarray | None]:
    arrays = {name: None if split is None else split.eeg for name, split in _splits(data).items()}
    arrays[REPETITIONS] = data.train.repetitions
    return arrays


def _splits(data: DecodingData) -> dict[str, EvalSplit | None]:
    return {"train": data.train, "val": data.val, "test": data.test}


def eeg_protocol(data: DecodingData) -> dict[str, Any]:
    """How ``data``'s EEG arrays were obtained: its protocol without the embedding store."""
    return {k: v for k, v in data.protocol.items() if k != "embedding_store"}


@dataclass
class SharedEEG:
    """The object-store reference to a study's EEG arrays and how they were obtained."""

    ref: Any
    protocol: dict[str, Any]


def share_eeg(data: DecodingData) -> SharedEEG:
    """Put ``data``'s EEG arrays into the object store once."""
    import ray

    return SharedEEG(ray.put(_eeg_arrays(data)), eeg_protocol(data))


@dataclass
class SharedEEGData:
    """One backbone's DecodingData, minus the EEG, which is a reference into the object store."""

    eeg_ref: Any
    shapes: dict[str, tuple[int, ...] | None]
    embeddings: dict[str, np.ndarray | None]
    subjects: dict[str, list[int] | None]
    backbone: str
    sfreq: float
    channels: list[str]
    protocol: dict[str, Any]
    repetitions_shape: tuple[int, ...] | None = None
    train_repetitions: int | None = None

    @classmethod
    def from_data(cls, data: DecodingData, shared: SharedEEG) -> SharedEEGData:
        """Pair ``data`` (one backbone) with the study's shared EEG; its own EEG is dropped.

        The shared EEG must have been obtained the same way (subjects, split, files, cache).
        """
        if eeg_protocol(data) != shared.protocol:
            raise ValueError(f"{data.backbone}: its EEG was not obtained like the shared EEG")
        splits = _splits(data)
        return cls(
            eeg_ref=shared.ref,
            shapes={n: None if s is None else tuple(s.eeg.shape) for n, s in splits.items()},
            embeddings={
                n: None if s is None else np.asarray(s.embeddings) for n, s in splits.items()
            },
            subjects={n: None if s is None else list(s.subjects) for n, s in splits.items()},
            backbone=data.backbone,
            sfreq=data.sfreq,
            channels=list(data.channels),
            protocol=dict(data.protocol),
            repetitions_shape=None
            if data.train.repetitions is None
            else tuple(data.train.repetitions.shape),
            train_repetitions=data.train_repetitions,
        )

    def resolve(self) -> DecodingData:
        """The DecodingData, with zero-copy read-only views of the shared EEG."""
        import ray

        eeg = ray.get(self.eeg_ref)
        splits = {}
        for name in SPLITS:
            shape = self.shapes[name]
            array = eeg.get(name)
            if shape is None:
                splits[name] = None
                continue
            if array is None or tuple(array.shape) != shape:
                found = None if array is None else tuple(array.shape)
                raise ValueError(
                    f"shared {name} EEG has shape {found}, {self.backbone} needs {shape}"
                )
            reps = _repetitions(eeg, self.repetitions_shape) if name == "train" else None
            splits[name] = EvalSplit(array, self.embeddings[name], self.subjects[name], reps)
        return DecodingData(
            train=splits["train"],
            val=splits["val"],
            test=splits["test"],
            backbone=self.backbone,
            sfreq=self.sfreq,
            channels=self.channels,
            protocol=self.protocol,
            train_repetitions=self.train_repetitions,
        )


def _repetitions(eeg: dict[str, Any], shape: tuple[int, ...] | None) -> np.ndarray | None:
    """The shared per-repetition training EEG, checked against the shape this backbone needs."""
    array = eeg.get(REPETITIONS)
    if shape is None:
        return None
    if array is None or tuple(array.shape) != shape:
        found = None if array is None else tuple(array.shape)
        raise ValueError(f"shared per-repetition training EEG has shape {found}, needs {shape}")
    return array
