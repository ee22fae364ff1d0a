"""The THINGS-EEG2 image lists: ordered relative paths and the concept of each image.

EEG training index i is the i-th path of ``training_images/*/*.jpg`` in sorted order (test:
``test_images/*/*.jpg``). Paths are POSIX and relative to the images root, e.g.
``training_images/00001_aardvark/aardvark_01b.jpg``. The lists come from the JPEG folders,
cross-checked with ``image_metadata.npy`` when both exist, or from the metadata alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.common.errors import DataError
from trainables.embedding.store import image_list_hash
from trainables.things_eeg2.formats import IMAGE_SPLIT_FOLDERS, METADATA_FILE, METADATA_KEYS
from trainables.things_eeg2.safe_pickle import load_npy_object

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ImageList:
    """One split's ordered images; ``concepts[i]`` is image i's concept folder name."""

    split: str
    paths: list[str]
    concepts: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def sha256(self) -> str:
        return image_list_hash(self.paths)

    @property
    def n_concepts(self) -> int:
        return len(set(self.concepts))


@dataclass(frozen=True)
class ImageSet:
    """Training and test image lists and where they were read from."""

    root: Path
    train: ImageList
    test: ImageList
    source: str

    def hashes(self) -> dict[str, str]:
        return {"train": self.train.sha256, "test": self.test.sha256}


def concept_name(folder: str) -> str:
    """``00001_aardvark`` -> ``aardvark`` (the numbered folder's concept)."""
    prefix, sep, rest = folder.partition("_")
    return rest if sep and prefix.isdigit() else folder


def read_images(images_dir: Path, metadata_path: Path | None = None) -> ImageSet:
    """Image lists from the folders and/or ``image_metadata.npy``; checks concept disjointness."""
    images_dir = Path(images_dir)
    if metadata_path is None and (images_dir / METADATA_FILE).is_file():
        metadata_path = images_dir / METADATA_FILE
    has_folders = all((images_dir / f).is_dir() for f in IMAGE_SPLIT_FOLDERS.values())
    if not has_folders and metadata_path is None:
        raise DataError(
            f"{images_dir}: expected {IMAGE_SPLIT_FOLDERS['train']}/ and "
            f"{IMAGE_SPLIT_FOLDERS['test']}/ folders or "
            f"{METADATA_FILE}, found neither"
        )
    from_meta = _from_metadata(metadata_path) if metadata_path is not None else None
    if has_folders:
        lists = {split: _from_folders(images_dir, split) for split in IMAGE_SPLIT_FOLDERS}
        if from_meta is not None:
            for split in IMAGE_SPLIT_FOLDERS:
                _cross_check(lists[split], from_meta[split], images_dir, metadata_path)
        source = f"folders + {METADATA_FILE}" if from_meta is not None else "folders"
    else:
        lists, source = from_meta, METADATA_FILE
    image_set = ImageSet(root=images_dir, train=lists["train"], test=lists["test"], source=source)
    check_disjoint_concepts(image_set)
    return image_set


def check_disjoint_concepts(image_set: ImageSet) -> None:
    """Training and test concepts must not overlap (the test split is zero-shot)."""
    train = {concept_name(c) for c in image_set.train.concepts}
    test = {concept_name(c) for c in image_set.test.concepts}
    overlap = sorted(train & test)
    if overlap:
        shown = ", ".join(overlap[:5]) + (" ..." if len(overlap) > 5 else "")
        raise DataError(
            f"{image_set.root}: expected disjoint training and test concepts, found "
            f"{len(overlap)} in both ({shown})"
        )


def _from_folders(images_dir: Path, split: str) -> ImageList:
    folder = images_dir / IMAGE_SPLIT_FOLDERS[split]
    paths = sorted(
        p.relative_to(images_dir).as_posix()
        for p in folder.glob("*/*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not paths:
        raise DataError(f"{folder}: expected <concept>/<image>.jpg files, found none")
    return ImageList(split=split, paths=paths, concepts=[p.split("/")[1] for p in paths])


def _from_metadata(path: Path) -> dict[str, ImageList]:
    if not path.is_file():
        raise DataError(f"{path}: missing file (expected {METADATA_FILE})")
    with open(path, "rb") as fh:
        meta = load_npy_object(fh, path)
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a dict, found {type(meta).__name__}")
    lists = {}
    for split, keys in METADATA_KEYS.items():
        concept_key, file_key = keys.concepts, keys.files
        missing = [k for k in (concept_key, file_key) if k not in meta]
        if missing:
            raise DataError(
                f"{path}: expected keys {concept_key}, {file_key}; missing {', '.join(missing)}"
            )
        concepts = _strings(path, concept_key, meta[concept_key])
        files = _strings(path, file_key, meta[file_key])
        if len(concepts) != len(files) or not files:
            raise DataError(
                f"{path}: expected {concept_key} and {file_key} of equal non-zero length, "
                f"found {len(concepts)} and {len(files)}"
            )
        paths = [
            f"{IMAGE_SPLIT_FOLDERS[split]}/{c}/{f}" for c, f in zip(concepts, files, strict=True)
        ]
        if paths != sorted(paths):
            raise DataError(f"{path}: expected {split} images in sorted path order, found unsorted")
        lists[split] = ImageList(split=split, paths=paths, concepts=concepts)
    return lists


def _strings(path: Path, key: str, value: object) -> list[str]:
    listlike = isinstance(value, Sequence | np.ndarray) and not isinstance(value, str | bytes)
    items = list(value) if listlike else None
    if items is None or not all(isinstance(v, str) for v in items):
        raise DataError(
            f"{path}: expected {key} as a list of strings, found {type(value).__name__}"
        )
    return [str(v) for v in items]


def _cross_check(folders: ImageList, meta: ImageList, images_dir: Path, meta_path: Path) -> None:
    if folders.paths == meta.paths:
        return
    if len(folders) != len(meta):
        folder = images_dir / IMAGE_SPLIT_FOLDERS[folders.split]
        found = f"{len(meta)} listed vs {len(folders)} in {folder}"
    else:
        i = next(
            i for i, (a, b) in enumerate(zip(folders.paths, meta.paths, strict=True)) if a != b
        )
        found = f"image {i} is {meta.paths[i]} in the metadata but {folders.paths[i]} on disk"
    raise DataError(
        f"{meta_path}: expected the same {folders.split} images as the folders, {found}"
    )
