"""Build a trial's :class:`DecodingData` from a dataset layout and a backbone's embedding store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainables.common.errors import ConfigError, DataError
from trainables.embedding.store import EmbeddingStore, load_store
from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit
from trainables.things_eeg2.formats import IMAGE_SPLIT_FOLDERS, METADATA_FILE
from trainables.things_eeg2.images import ImageList, ImageSet, read_images
from trainables.things_eeg2.inputs import AppliedInputs, InputSpec, apply_inputs, resolve_inputs
from trainables.things_eeg2.layout import DataLayout
from trainables.things_eeg2.prepared_cache import PreparedEEG, default_cache_dir, load_prepared
from trainables.things_eeg2.protocols import train_subjects
from trainables.things_eeg2.splits import ValidationSplit, carve_validation


def dataset_images(layout: DataLayout) -> ImageSet:
    """The dataset's ordered image lists (folders and/or the image metadata file)."""
    if layout.images_dir is None and layout.metadata_path is None:
        raise DataError(
            f"{layout.root}: expected an images folder (imgs/, images/ or image_set/ with "
            f"{IMAGE_SPLIT_FOLDERS['train']}/ and {IMAGE_SPLIT_FOLDERS['test']}/) or "
            f"{METADATA_FILE}, found none; "
            f"pass --images-dir"
        )
    images_dir = layout.images_dir or layout.metadata_path.parent
    return read_images(images_dir, layout.metadata_path)


def load_dataset_store(layout: DataLayout, backbone: str, images: ImageSet) -> EmbeddingStore:
    """``backbone``'s store, refused unless it was computed for exactly these image lists."""
    return load_store(
        layout.embeddings_dir,
        backbone,
        expected_hashes=images.hashes(),
        expected_counts={"train": len(images.train), "test": len(images.test)},
    )


def load_subject_split(
    layout: DataLayout,
    subject: int,
    split: str,
    images: ImageList,
    cache_dir: Path,
    *,
    per_repetition: bool = False,
) -> PreparedEEG:
    """One subject's prepared split, checked against the number of images of that split."""
    prepared = load_prepared(
        layout.eeg_file(subject, split), cache_dir, per_repetition=per_repetition
    )
    if prepared.mean.shape[0] != len(images):
        raise DataError(
            f"{prepared.source}: expected {len(images)} EEG image conditions (the {split} image "
            f"list), found {prepared.mean.shape[0]}"
        )
    return prepared


def check_consistent_axes(prepared: Sequence[PreparedEEG]) -> None:
    """All files must share channels, times and sampling rate with the first one."""
    ref = prepared[0]
    for other in prepared[1:]:
        if other.ch_names != ref.ch_names:
            raise DataError(
                f"{other.source}: expected the {len(ref.ch_names)} channels of {ref.source} "
                f"({_short(ref.ch_names)}), found {len(other.ch_names)} ({_short(other.ch_names)})"
            )
        same_times = other.times.shape == ref.times.shape and np.allclose(
            other.times, ref.times, atol=1e-6
        )
        if not same_times or other.sfreq != ref.sfreq:
            raise DataError(
                f"{other.source}: expected the time axis of {ref.source} ({_axis(ref)}), "
                f"found {_axis(other)}"
            )


def load_decoding_data(
    layout: DataLayout,
    backbone: str,
    subjects: Sequence[int] | None = None,
    *,
    val_kind: str | None = "concepts",
    val_seed: int = 0,
    val_count: int | None = None,
    val_fraction: float | None = None,
    include_test: bool = False,
    train_subjects: Sequence[int] | None = None,
    cache_dir: Path | None = None,
    inputs: InputSpec | None = None,
) -> DecodingData:
    """Train/val(/test) arrays for ``backbone``.

    ``subjects`` are evaluated (validation and test); training uses ``train_subjects`` when given
    (leave-one-subject-out: disjoint from ``subjects``), else the same subjects pooled.
    ``val_kind=None`` trains on the whole training set with no validation (final training).
    The test split is read only when ``include_test`` is true. ``inputs`` selects channels,
    window, rate and repetition handling of every split (None: the data as it is).
    """
    spec = inputs if inputs is not None else InputSpec()
    k = spec.train_repetitions
    eval_subjects = _subjects(layout, subjects, "subjects")
    fit_subjects = (
        eval_subjects
        if train_subjects is None
        else _subjects(layout, train_subjects, "train_subjects")
    )
    if train_subjects is not None and set(fit_subjects) & set(eval_subjects):
        both = sorted(set(fit_subjects) & set(eval_subjects))
        raise ConfigError(f"subjects {both} are both training and evaluation subjects")
    images = dataset_images(layout)
    store = load_dataset_store(layout, backbone, images)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(layout.root)

    fit = set(fit_subjects)
    needed = fit_subjects + [s for s in eval_subjects if s not in fit and val_kind]
    train_eeg = {
        s: load_subject_split(
            layout, s, "train", images.train, cache_dir, per_repetition=k is not None and s in fit
        )
        for s in needed
    }
    test_eeg = (
        {s: load_subject_split(layout, s, "test", images.test, cache_dir) for s in eval_subjects}
        if include_test
        else {}
    )
    check_consistent_axes([*train_eeg.values(), *test_eeg.values()])
    ref = next(iter(train_eeg.values()))
    if k is not None:
        check_same_repetitions([train_eeg[s] for s in fit_subjects])
    applied = resolve_inputs(
        spec, ref.ch_names, ref.times, ref.sfreq, n_repetitions=ref.n_repetitions
    )

    split = (
        carve_validation(
            images.train.concepts, val_kind, seed=val_seed, count=val_count, fraction=val_fraction
        )
        if val_kind
        else None
    )
    train_idx = split.train_idx if split else np.arange(len(images.train))
    train = _eval_split(
        train_eeg, fit_subjects, store.train, train_idx, applied, repetitions=k is not None
    )
    val = (
        _eval_split(train_eeg, eval_subjects, store.train, split.val_idx, applied)
        if split
        else None
    )
    test = (
        _eval_split(test_eeg, eval_subjects, store.test, np.arange(len(images.test)), applied)
        if include_test
        else None
    )
    protocol = _protocol(
        layout,
        images,
        store,
        ref,
        split,
        fit_subjects,
        eval_subjects,
        include_test,
        cache_dir,
        test_eeg,
        applied,
    )
    return DecodingData(
        train=train,
        val=val,
        test=test,
        backbone=backbone,
        sfreq=applied.sfreq,
        channels=list(applied.ch_names),
        protocol=protocol,
        train_repetitions=k,
    )


def check_same_repetitions(prepared: Sequence[PreparedEEG]) -> None:
    """Per-repetition training arrays are stacked: every file needs the first one's count."""
    ref = prepared[0]
    for other in prepared[1:]:
        if other.n_repetitions != ref.n_repetitions:
            raise DataError(
                f"{other.source}: expected the {ref.n_repetitions} repetitions per image of "
                f"{ref.source} (training on k-of-n repetition draws), found {other.n_repetitions}"
            )


def _subjects(layout: DataLayout, requested: Sequence[int] | None, name: str) -> list[int]:
    if requested is None:
        return list(layout.subjects)
    chosen = sorted(set(int(s) for s in requested))
    if not chosen:
        raise ConfigError(f"{name} is empty")
    missing = [s for s in chosen if s not in layout.subjects]
    if missing:
        found = ", ".join(str(s) for s in layout.subjects)
        raise DataError(
            f"{layout.eeg_dir}: expected subjects {', '.join(map(str, missing))}, "
            f"found only {found}"
        )
    return chosen


def _eval_split(
    prepared: dict[int, PreparedEEG],
    subjects: list[int],
    embeddings: np.ndarray,
    idx: np.ndarray,
    applied: AppliedInputs,
    *,
    repetitions: bool = False,
) -> EvalSplit:
    eeg = np.stack([apply_inputs(prepared[s].mean[idx], applied) for s in subjects])
    rows = np.ascontiguousarray(embeddings[idx], dtype=np.float32)
    reps = None
    if repetitions:
        n = prepared[subjects[0]].n_repetitions
        reps = np.empty((len(subjects), len(idx), n, *eeg.shape[2:]), dtype=np.float32)
        for i, s in enumerate(subjects):
            reps[i] = apply_inputs(prepared[s].repetitions[idx], applied)
    return EvalSplit(eeg=eeg, embeddings=rows, subjects=list(subjects), repetitions=reps)


def _protocol(
    layout: DataLayout,
    images: ImageSet,
    store: EmbeddingStore,
    ref: PreparedEEG,
    split: ValidationSplit | None,
    fit_subjects: list[int],
    eval_subjects: list[int],
    include_test: bool,
    cache_dir: Path,
    test_eeg: dict[int, PreparedEEG],
    applied: AppliedInputs,
) -> dict[str, Any]:
    test_reps = sorted({p.n_repetitions for p in test_eeg.values()})
    k = applied.spec.train_repetitions
    return {
        "data_root": str(layout.root),
        "release_format": ref.format,
        "n_channels": len(applied.ch_names),
        "n_times": int(applied.times.shape[0]),
        "times_s": [float(applied.times[0]), float(applied.times[-1])],
        "eeg": "float32 mean over repetitions per image"
        if k is None
        else f"float32; training: each epoch the mean of k={k} of the {ref.n_repetitions} "
        f"repetitions, drawn per (subject, image); validation and test: mean over all "
        f"repetitions per image",
        "train_repetitions_averaged": ref.n_repetitions,
        "test_repetitions_averaged": test_reps[0] if len(test_reps) == 1 else test_reps,
        "train_subjects": fit_subjects,
        "eval_subjects": eval_subjects,
        "subject_protocol": "within/pooled"
        if fit_subjects == eval_subjects
        else "cross-subject (train and evaluation subjects disjoint)",
        "validation": split.describe() if split else None,
        "test_loaded": include_test,
        "test_gallery": f"all {len(images.test)} test images" if include_test else None,
        "images_source": images.source,
        "image_list_sha256": images.hashes(),
        "embedding_store": {
            "path": str(store.path),
            "backbone": store.manifest.backbone,
            "dim": store.manifest.dim,
            "source": store.manifest.source,
            "normalisation": store.manifest.normalisation,
        },
        "cache_dir": str(cache_dir),
        "inputs": applied.describe(),
    }


def _short(names: Sequence[str]) -> str:
    return ", ".join(names[:4]) + (" ..." if len(names) > 4 else "")


def _axis(p: PreparedEEG) -> str:
    return f"{len(p.times)} samples {p.times[0]:.3f}..{p.times[-1]:.3f} s at {p.sfreq:g} Hz"


def load_run_data(
    layout: DataLayout,
    backbone: str,
    subject: int,
    protocol: str,
    subjects: Sequence[int],
    cache_dir: Path | None = None,
    inputs: InputSpec | None = None,
) -> DecodingData:
    """Whole training set (no validation) of the run's training subjects, test of ``subject``."""
    fit = train_subjects(protocol, subject, subjects)
    return load_decoding_data(
        layout,
        backbone,
        [subject],
        val_kind=None,
        include_test=True,
        train_subjects=None if protocol == "intra" else fit,
        cache_dir=cache_dir,
        inputs=inputs,
    )
