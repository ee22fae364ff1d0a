"""Image lists from folders and image_metadata.npy, their cross-check and concept disjointness."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.real_format import make_dataset, write_format_a
from trainables.common.errors import DataError
from trainables.embedding.store import image_list_hash
from trainables.things_eeg2.images import concept_name, read_images


def test_folders_give_sorted_relative_paths_and_concepts(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path, n_train_concepts=3, per_concept=2, n_test=2, metadata=False)
    images = read_images(tmp_path / "imgs")
    assert images.source == "folders"
    assert images.train.paths == ds.train_paths == sorted(ds.train_paths)
    assert images.train.paths[0] == "training_images/00001_train0/train0_01b.jpg"
    assert (
        images.train.concepts == ["00001_train0"] * 2 + ["00002_train1"] * 2 + ["00003_train2"] * 2
    )
    assert images.test.paths == ds.test_paths
    assert images.hashes() == {
        "train": image_list_hash(ds.train_paths),
        "test": image_list_hash(ds.test_paths),
    }


def test_metadata_alone_gives_the_same_lists(tmp_path: Path) -> None:
    make_dataset(tmp_path / "both")
    make_dataset(tmp_path / "meta", jpegs=False)
    both = read_images(tmp_path / "both" / "imgs")
    meta = read_images(tmp_path / "meta" / "imgs")
    assert both.source == "folders + image_metadata.npy"
    assert meta.source == "image_metadata.npy"
    assert meta.train == both.train and meta.test == both.test


def test_metadata_disagreeing_with_folders_is_refused(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path)
    extra = tmp_path / "imgs" / ds.train_paths[0].replace("_01b", "_99z")
    shutil.copy(tmp_path / "imgs" / ds.train_paths[0], extra)
    with pytest.raises(DataError, match="image_metadata.npy: expected the same train images"):
        read_images(tmp_path / "imgs")


def test_renamed_file_reports_the_first_difference(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path)
    src = tmp_path / "imgs" / ds.train_paths[1]
    src.rename(src.with_name("zz.jpg"))
    with pytest.raises(DataError, match="image 1 is"):
        read_images(tmp_path / "imgs")


def test_overlapping_train_and_test_concepts_are_refused(tmp_path: Path) -> None:
    make_dataset(tmp_path, metadata=False)
    shutil.copytree(
        tmp_path / "imgs/training_images/00002_train1", tmp_path / "imgs/test_images/00099_train1"
    )
    with pytest.raises(DataError, match="disjoint training and test concepts, found 1 in both"):
        read_images(tmp_path / "imgs")


def test_missing_images_and_bad_metadata(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="found neither"):
        read_images(tmp_path / "empty")
    write_format_a(tmp_path / "bad" / "image_metadata.npy", {"train_img_files": ["a.jpg"]})
    with pytest.raises(DataError, match="missing train_img_concepts"):
        read_images(tmp_path / "bad")
    meta = {
        "train_img_concepts": "00001_a",
        "train_img_files": "a_01b.jpg",
        "test_img_concepts": ["00001_b"],
        "test_img_files": ["b_01s.jpg"],
    }
    write_format_a(tmp_path / "str" / "image_metadata.npy", meta)
    with pytest.raises(DataError, match="expected train_img_concepts as a list of strings"):
        read_images(tmp_path / "str")


def test_concept_name_strips_the_number() -> None:
    assert concept_name("00001_aircraft_carrier") == "aircraft_carrier"
    assert concept_name("aardvark") == "aardvark"
