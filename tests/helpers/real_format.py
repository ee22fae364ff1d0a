"""Small writers of THINGS-EEG2 files in the real on-disk formats, for tests."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from trainables.embedding.store import StoreManifest, image_list_hash, write_store
from trainables.things_eeg2.formats import OSF_CHANNELS


def write_format_a(path: Path, content: dict) -> Path:
    """np.save of a dict, as the OSF release (npy magic + pickled 0-d object array)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.save(fh, np.array(content, dtype=object), allow_pickle=True)
    return path


def write_format_b(path: Path, content: dict) -> Path:
    """pickle.dump(dict, protocol=4), as the NICE/ATM 250 Hz release."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(content, fh, protocol=4)
    return path


def eeg_content(
    n_images: int, n_reps: int, fmt: str = "osf", n_channels: int | None = None, seed: int = 0
) -> dict:
    """A valid EEG dict: format A is 17 ch x 100 samples at 100 Hz; B 63 ch x 250 of 300 times."""
    rng = np.random.default_rng(seed)
    if fmt == "osf":
        n_channels = n_channels or 17
        n_times, times = 100, -0.2 + np.arange(100) / 100
        ch_names = list(OSF_CHANNELS[:n_channels]) if n_channels <= 17 else _names(n_channels)
    else:
        n_channels = n_channels or 63
        n_times, times = 250, -0.2 + np.arange(300) / 250
        ch_names = _names(n_channels)
    return {
        "preprocessed_eeg_data": rng.standard_normal((n_images, n_reps, n_channels, n_times)),
        "ch_names": ch_names,
        "times": times,
    }


def _names(n: int) -> list[str]:
    return [f"E{i}" for i in range(n)]


@dataclass
class TinyDataset:
    """What :func:`make_dataset` wrote."""

    root: Path
    train_paths: list[str]
    test_paths: list[str]
    train_concepts: list[str]


def make_dataset(
    root: Path,
    *,
    subjects: tuple[int, ...] = (1, 2),
    fmt: str = "osf",
    n_train_concepts: int = 12,
    per_concept: int = 3,
    n_test: int = 4,
    n_channels: int | None = 4,
    jpegs: bool = True,
    metadata: bool = True,
    backbones: tuple[str, ...] = ("synclr",),
    dim: int = 8,
) -> TinyDataset:
    """A complete tiny tree: eeg/sub-XX files, imgs/ (JPEGs and/or metadata), embeddings/."""
    train_folders = [f"{i + 1:05d}_train{i}" for i in range(n_train_concepts)]
    test_folders = [f"{i + 1:05d}_test{i}" for i in range(n_test)]
    train = [
        (c, f"{c.split('_')[1]}_{j + 1:02d}b.jpg")
        for c in train_folders
        for j in range(per_concept)
    ]
    test = [(c, f"{c.split('_')[1]}_01s.jpg") for c in test_folders]
    train_paths = [f"training_images/{c}/{f}" for c, f in train]
    test_paths = [f"test_images/{c}/{f}" for c, f in test]
    images = root / "imgs"
    images.mkdir(parents=True, exist_ok=True)
    if jpegs:
        for rel in train_paths + test_paths:
            (images / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (4, 4), (len(rel) * 7 % 255, 0, 0)).save(images / rel)
    if metadata:
        write_format_a(
            images / "image_metadata.npy",
            {
                "train_img_concepts": [c for c, _ in train],
                "train_img_files": [f for _, f in train],
                "test_img_concepts": [c for c, _ in test],
                "test_img_files": [f for _, f in test],
            },
        )
    writer = write_format_a if fmt == "osf" else write_format_b
    for s in subjects:
        sub = root / "eeg" / f"sub-{s:02d}"
        writer(
            sub / "preprocessed_eeg_training.npy",
            eeg_content(len(train), 4, fmt, n_channels, seed=s),
        )
        writer(
            sub / "preprocessed_eeg_test.npy",
            eeg_content(len(test), 8, fmt, n_channels, seed=100 + s),
        )
    rng = np.random.default_rng(7)
    for backbone in backbones:
        manifest = StoreManifest(
            backbone=backbone,
            dim=dim,
            n_train=len(train),
            n_test=len(test),
            image_list_sha256={
                "train": image_list_hash(train_paths),
                "test": image_list_hash(test_paths),
            },
        )
        write_store(
            root / "embeddings",
            manifest,
            rng.standard_normal((len(train), dim)),
            rng.standard_normal((len(test), dim)),
        )
    return TinyDataset(
        root=root, train_paths=train_paths, test_paths=test_paths, train_concepts=train_folders
    )
