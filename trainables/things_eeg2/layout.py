"""Find the THINGS-EEG2 folders under a data root: EEG subjects, images, embedding stores.

Common release folder names are auto-detected; every folder can be given explicitly instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainables.common.errors import DataError
from trainables.things_eeg2.formats import (
    EEG_FILES,
    IMAGE_SPLIT_FOLDERS,
    METADATA_FILE,
    SUBJECT_PATTERN,
    subject_folder,
)

EEG_DIR_NAMES = (
    "eeg",
    "preprocessed_eeg",
    "Preprocessed_data_250Hz",
    "Preprocessed_data_100Hz",
    "preprocessed_data",
    "Preprocessed_data",
)
IMAGE_DIR_NAMES = ("imgs", "images", "image_set", "Image_set", "images_set")
EMBEDDINGS_DIR_NAME = "embeddings"


@dataclass(frozen=True)
class DataLayout:
    """Where one dataset's parts live; ``images_dir`` is None when no images were found."""

    root: Path
    eeg_dir: Path
    images_dir: Path | None
    embeddings_dir: Path
    subjects: list[int]
    subject_dirs: dict[int, Path]
    metadata_path: Path | None = None

    def eeg_file(self, subject: int, split: str) -> Path:
        """Path of a subject's ``train`` or ``test`` EEG file (which may not exist)."""
        if subject not in self.subject_dirs:
            found = ", ".join(str(s) for s in self.subjects)
            raise DataError(
                f"{self.eeg_dir}: expected subject {subject_folder(subject)}, found {found}"
            )
        return self.subject_dirs[subject] / EEG_FILES[split]


def find_layout(
    root: Path,
    *,
    eeg_dir: Path | None = None,
    images_dir: Path | None = None,
    embeddings_dir: Path | None = None,
) -> DataLayout:
    """Locate the dataset folders under ``root`` (explicit folders win over detection)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: expected a data folder, found {_what(root)}")
    eeg = _explicit(eeg_dir, "--eeg-dir") if eeg_dir else _find_eeg_dir(root)
    subject_dirs = find_subjects(eeg)
    images = _explicit(images_dir, "--images-dir") if images_dir else _find_images_dir(root)
    metadata = _find_metadata(images, root)
    embeddings = Path(embeddings_dir).expanduser() if embeddings_dir else root / EMBEDDINGS_DIR_NAME
    if embeddings_dir and not embeddings.is_dir():
        raise DataError(
            f"{embeddings}: expected an embeddings folder (--embeddings-dir), "
            f"found {_what(embeddings)}"
        )
    return DataLayout(
        root=root,
        eeg_dir=eeg,
        images_dir=images,
        embeddings_dir=embeddings,
        subjects=sorted(subject_dirs),
        subject_dirs=subject_dirs,
        metadata_path=metadata,
    )


def find_subjects(eeg_dir: Path) -> dict[int, Path]:
    """``sub-XX`` folders holding at least one preprocessed EEG file, by subject number."""
    found: dict[int, Path] = {}
    for child in sorted(eeg_dir.iterdir()):
        match = SUBJECT_PATTERN.match(child.name)
        if match and child.is_dir() and any((child / f).exists() for f in EEG_FILES.values()):
            number = int(match.group(1))
            if number in found:
                raise DataError(
                    f"{eeg_dir}: expected one folder per subject, found "
                    f"{found[number].name} and {child.name}"
                )
            found[number] = child
    if not found:
        raise DataError(
            f"{eeg_dir}: expected sub-XX folders with {EEG_FILES['train']} or "
            f"{EEG_FILES['test']}, found none"
        )
    return found


def _find_eeg_dir(root: Path) -> Path:
    for candidate in (*(root / n for n in EEG_DIR_NAMES), root):
        if candidate.is_dir() and any(SUBJECT_PATTERN.match(p.name) for p in candidate.iterdir()):
            return candidate
    raise DataError(
        f"{root}: expected an EEG folder with sub-XX subfolders ({', '.join(EEG_DIR_NAMES)}), "
        f"found none; pass --eeg-dir"
    )


def _is_images_dir(path: Path) -> bool:
    return path.is_dir() and (
        any((path / f).is_dir() for f in IMAGE_SPLIT_FOLDERS.values())
        or (path / METADATA_FILE).is_file()
    )


def _find_images_dir(root: Path) -> Path | None:
    for candidate in (*(root / n for n in IMAGE_DIR_NAMES), root):
        if _is_images_dir(candidate):
            return candidate
    return None


def _find_metadata(images_dir: Path | None, root: Path) -> Path | None:
    for folder in (images_dir, root):
        if folder is not None and (folder / METADATA_FILE).is_file():
            return folder / METADATA_FILE
    return None


def _explicit(path: Path, flag: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder ({flag}), found {_what(path)}")
    return path


def _what(path: Path) -> str:
    return "a file" if path.is_file() else "nothing there"
