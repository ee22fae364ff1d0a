"""load_decoding_data: splits, subjects, test gating, store hashes and cross-file checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.real_format import eeg_content, make_dataset, write_format_a
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.store import load_store
from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.loader import load_decoding_data
from trainables.things_eeg2.prepared_cache import load_prepared


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("tiny")
    ds = make_dataset(root, subjects=(1, 2, 3))
    return ds, find_layout(root)


def _eeg_mean(layout, subject: int, split: str) -> np.ndarray:
    return load_prepared(layout.eeg_file(subject, split), layout.root / ".study-cache").mean


def test_default_is_pooled_with_concept_validation_and_no_test(tiny) -> None:
    ds, layout = tiny
    data = load_decoding_data(layout, "synclr")
    assert data.test is None
    assert data.train.subjects == data.val.subjects == [1, 2, 3]
    assert data.train.eeg.shape[:2] == (3, 33) and data.val.eeg.shape[:2] == (3, 3)
    assert data.channels == ["Pz", "P3", "P7", "O1"] and data.sfreq == 100.0
    held = data.protocol["validation"]["held_out_concepts"]
    assert len(held) == 1 and data.protocol["test_loaded"] is False
    store = load_store(layout.embeddings_dir, "synclr")
    val_idx = [i for i, p in enumerate(ds.train_paths) if p.split("/")[1] in held]
    train_idx = [i for i in range(len(ds.train_paths)) if i not in val_idx]
    np.testing.assert_array_equal(data.val.embeddings, store.train[val_idx])
    np.testing.assert_array_equal(data.train.embeddings, store.train[train_idx])
    np.testing.assert_array_equal(data.val.eeg[1], _eeg_mean(layout, 2, "train")[val_idx])
    assert data.train.eeg.dtype == np.float32


def test_validation_is_deterministic_by_seed(tiny) -> None:
    _, layout = tiny
    a = load_decoding_data(layout, "synclr", [1], val_seed=5, val_count=3)
    b = load_decoding_data(layout, "synclr", [1], val_seed=5, val_count=3)
    c = load_decoding_data(layout, "synclr", [1], val_seed=6, val_count=3)
    assert a.protocol["validation"] == b.protocol["validation"]
    np.testing.assert_array_equal(a.val.eeg, b.val.eeg)
    assert a.protocol["validation"] != c.protocol["validation"]


def test_final_training_uses_everything_and_loads_test(tiny) -> None:
    ds, layout = tiny
    data = load_decoding_data(layout, "synclr", [2], val_kind=None, include_test=True)
    assert data.val is None and data.protocol["validation"] is None
    assert data.train.eeg.shape == (1, len(ds.train_paths), 4, 100)
    np.testing.assert_array_equal(data.train.eeg[0], _eeg_mean(layout, 2, "train"))
    assert data.test.eeg.shape == (1, len(ds.test_paths), 4, 100)
    np.testing.assert_array_equal(data.test.eeg[0], _eeg_mean(layout, 2, "test"))
    assert data.protocol["test_repetitions_averaged"] == 8


def test_leave_one_subject_out(tiny) -> None:
    _, layout = tiny
    data = load_decoding_data(layout, "synclr", [3], train_subjects=[1, 2], include_test=True)
    assert data.train.subjects == [1, 2]
    assert data.val.subjects == data.test.subjects == [3]
    assert data.protocol["subject_protocol"].startswith("cross-subject")
    with pytest.raises(ConfigError, match="both training and evaluation"):
        load_decoding_data(layout, "synclr", [2], train_subjects=[1, 2])


def test_unknown_subject_and_backbone(tiny) -> None:
    _, layout = tiny
    with pytest.raises(DataError, match="expected subjects 7"):
        load_decoding_data(layout, "synclr", [7])
    with pytest.raises(DataError, match="no embedding store for backbone 'dino'"):
        load_decoding_data(layout, "dino")


def test_store_of_another_image_list_is_refused(tmp_path: Path) -> None:
    make_dataset(tmp_path / "a")
    make_dataset(tmp_path / "b", n_train_concepts=13)
    shutil.rmtree(tmp_path / "a" / "embeddings")
    shutil.copytree(tmp_path / "b" / "embeddings", tmp_path / "a" / "embeddings")
    with pytest.raises(DataError, match="different train image list"):
        load_decoding_data(find_layout(tmp_path / "a"), "synclr")


def test_eeg_count_must_match_images(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    bad = tmp_path / "eeg" / "sub-02" / "preprocessed_eeg_training.npy"
    write_format_a(bad, eeg_content(35, 4, "osf", n_channels=4))
    with pytest.raises(DataError, match=f"{bad}: expected 36 EEG image conditions.*found 35"):
        load_decoding_data(find_layout(tmp_path), "synclr")


def test_axes_must_agree_between_subjects(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    bad = tmp_path / "eeg" / "sub-02" / "preprocessed_eeg_training.npy"
    write_format_a(bad, eeg_content(36, 4, "osf", n_channels=5))
    with pytest.raises(DataError, match=f"{bad}: expected the 4 channels of .*sub-01"):
        load_decoding_data(find_layout(tmp_path), "synclr")
    content = eeg_content(36, 4, "osf", n_channels=4)
    content["times"] = content["times"] + 0.1
    write_format_a(bad, content)
    with pytest.raises(DataError, match="expected the time axis"):
        load_decoding_data(find_layout(tmp_path), "synclr")


def test_format_b_dataset(tmp_path: Path) -> None:
    make_dataset(tmp_path, fmt="nice", n_channels=6, jpegs=False)
    data = load_decoding_data(find_layout(tmp_path), "synclr", include_test=True)
    assert data.sfreq == 250.0 and data.n_times == 250 and data.n_channels == 6
    assert data.protocol["release_format"] == "nice"
    assert data.protocol["images_source"] == "image_metadata.npy"


@pytest.mark.parametrize(
    ("eeg_name", "img_name"),
    [("preprocessed_eeg", "images"), ("Preprocessed_data_250Hz", "image_set")],
)
def test_layout_detects_common_folder_names(tmp_path: Path, eeg_name: str, img_name: str) -> None:
    make_dataset(tmp_path, subjects=(1, 10))
    (tmp_path / "eeg").rename(tmp_path / eeg_name)
    (tmp_path / "imgs").rename(tmp_path / img_name)
    layout = find_layout(tmp_path)
    assert layout.eeg_dir == tmp_path / eeg_name and layout.images_dir == tmp_path / img_name
    assert layout.subjects == [1, 10]
    assert layout.metadata_path == tmp_path / img_name / "image_metadata.npy"
    assert layout.eeg_file(10, "test") == tmp_path / eeg_name / "sub-10/preprocessed_eeg_test.npy"


def test_layout_overrides_and_errors(tmp_path: Path) -> None:
    make_dataset(tmp_path / "d")
    (tmp_path / "d" / "eeg").rename(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="expected an EEG folder .*pass --eeg-dir"):
        find_layout(tmp_path / "d")
    layout = find_layout(tmp_path / "d", eeg_dir=tmp_path / "elsewhere")
    assert layout.eeg_dir == tmp_path / "elsewhere"
    with pytest.raises(DataError, match="--images-dir"):
        find_layout(tmp_path / "d", eeg_dir=tmp_path / "elsewhere", images_dir=tmp_path / "no")
    with pytest.raises(DataError, match="expected subject sub-04"):
        layout.eeg_file(4, "train")
    with pytest.raises(DataError, match="expected a data folder"):
        find_layout(tmp_path / "missing")


def _edit_store(root: Path, **changes) -> Path:
    """Rewrite the synclr store's manifest with ``changes``; returns the manifest path."""
    path = root / "embeddings" / "synclr" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))
    return path


def test_store_whose_n_train_disagrees_with_the_image_list_is_refused(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    path = _edit_store(tmp_path, n_train=30)
    train = tmp_path / "embeddings" / "synclr" / "train.npy"
    np.save(train, np.load(train)[:30])
    with pytest.raises(DataError, match=f"{path}: n_train is 30.*train image list has 36"):
        load_decoding_data(find_layout(tmp_path), "synclr")


@pytest.mark.parametrize(
    ("changes", "why"),
    [({"n_train": 0}, "n_train must be a positive integer"),
     ({"dim": 0}, "dim must be a positive integer"),
     ({"n_test": "4"}, "n_test must be a positive integer"),
     ({"image_list_sha256": "abc"}, "image_list_sha256 must map")],
)  # fmt: skip
def test_store_manifest_with_empty_or_wrongly_typed_fields_is_refused(
    tmp_path: Path, changes: dict, why: str
) -> None:
    make_dataset(tmp_path)
    path = _edit_store(tmp_path, **changes)
    if changes.get("n_train") == 0:
        np.save(path.parent / "train.npy", np.zeros((0, 8), np.float32))
    with pytest.raises(DataError, match=f"{path}: unreadable store manifest \\({why}"):
        load_store(tmp_path / "embeddings", "synclr")


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"[1, 2]", "expected a JSON object, found list"), (b"\xff\xfe\x00garbage", ""),
     (b'{"backbone": "synclr"}', "missing field")],
)  # fmt: skip
def test_store_manifest_that_is_not_a_mapping_is_refused(
    tmp_path: Path, content: bytes, why: str
) -> None:
    make_dataset(tmp_path)
    path = tmp_path / "embeddings" / "synclr" / "manifest.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"{path}: unreadable store manifest \\({why}") as exc:
        load_store(tmp_path / "embeddings", "synclr")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_embeddings_are_refused_with_their_count(tmp_path: Path, bad: float) -> None:
    make_dataset(tmp_path)
    path = tmp_path / "embeddings" / "synclr" / "test.npy"
    matrix = np.load(path)
    matrix[1, :3] = bad
    np.save(path, matrix)
    with pytest.raises(DataError, match=f"{path}: expected finite synclr embeddings, found 3 non"):
        load_decoding_data(find_layout(tmp_path), "synclr")


def test_eeg_beyond_float32_range_is_refused_naming_the_source(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    bad = tmp_path / "eeg" / "sub-02" / "preprocessed_eeg_training.npy"
    content = eeg_content(36, 4, "osf", n_channels=4)
    content["preprocessed_eeg_data"][0, :, 0, :2] = 1e300
    write_format_a(bad, content)
    with pytest.raises(DataError, match=f"{bad}: expected finite EEG .*found 2 non-finite"):
        load_decoding_data(find_layout(tmp_path), "synclr")


def test_non_finite_prepared_cache_is_rebuilt_from_the_source(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    layout = find_layout(tmp_path)
    source = layout.eeg_file(1, "train")
    cached = load_prepared(source, tmp_path / "cache")
    expected = np.array(cached.mean)
    tampered = expected.copy()
    tampered[0, 0, :4] = np.nan
    np.save(cached.mean.filename, tampered)
    again = load_prepared(source, tmp_path / "cache")
    assert again.built
    np.testing.assert_array_equal(again.mean, expected)
