"""The synthetic THINGS-EEG2 twin: exact release formats, determinism, layout, learnability."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from study.arguments import parse_subjects
from study.cli import main
from study.synthetic import (
    FORMATS,
    SCALES,
    GenerativeParams,
    LazyArray,
    SynthConfig,
    backbone_dim,
    dump_npy_object,
    dump_pickle,
    synth_manifest,
    write_dataset,
)
from trainables.common.errors import ConfigError
from trainables.embedding.store import image_list_hash, load_store
from trainables.things_eeg2.formats import NICE_CHANNELS, OSF_CHANNELS

TINY = SCALES["tiny"]


@pytest.fixture(scope="module")
def osf_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("osf") / "twin"
    write_dataset(SynthConfig(out=out, scale="tiny", format="osf", seed=3))
    return out


@pytest.fixture(scope="module")
def nice_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nice") / "twin"
    write_dataset(SynthConfig(out=out, scale="tiny", format="nice", subjects=[2], images=False))
    return out


def _eeg(root: Path, subject: int, split: str) -> Path:
    name = "training" if split == "train" else "test"
    return root / "eeg" / f"sub-{subject:02d}" / f"preprocessed_eeg_{name}.npy"


def _load_osf(path: Path) -> dict:
    return np.load(path, allow_pickle=True).item()


def _metadata(root: Path) -> dict:
    return np.load(root / "images" / "image_metadata.npy", allow_pickle=True).item()


def _relative_paths(meta: dict, split: str) -> list[str]:
    folder = "training_images" if split == "train" else "test_images"
    pairs = zip(meta[f"{split}_img_concepts"], meta[f"{split}_img_files"], strict=True)
    return [f"{folder}/{c}/{f}" for c, f in pairs]


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("split", ["train", "test"])
def test_osf_files_have_the_exact_release_format(osf_tree: Path, split: str) -> None:
    path = _eeg(osf_tree, 1, split)
    raw = path.read_bytes()
    assert raw[:6] == b"\x93NUMPY"
    content = _load_osf(path)
    assert set(content) == {"preprocessed_eeg_data", "ch_names", "times"}
    data = content["preprocessed_eeg_data"]
    n, reps = (TINY.n_train, 4) if split == "train" else (TINY.n_test, 80)
    assert data.dtype == np.float64 and data.shape == (n, reps, 17, 100)
    assert content["ch_names"] == list(OSF_CHANNELS)
    assert np.allclose(content["times"], -0.2 + np.arange(100) / 100)
    assert np.isfinite(data).all()
    # The streaming writer produces exactly what np.save of the same dict produces.
    buffer = io.BytesIO()
    np.save(buffer, content, allow_pickle=True)
    assert buffer.getvalue() == raw


@pytest.mark.parametrize("split", ["train", "test"])
def test_nice_files_have_the_exact_release_format(nice_tree: Path, split: str) -> None:
    path = _eeg(nice_tree, 2, split)
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x04" and not raw.startswith(b"\x93NUMPY")
    content = pickle.loads(raw)
    assert set(content) == {"preprocessed_eeg_data", "ch_names", "times"}
    data = content["preprocessed_eeg_data"]
    n, reps = (TINY.n_train, 4) if split == "train" else (TINY.n_test, 80)
    assert data.dtype == np.float64 and data.shape == (n, reps, 63, 250)
    assert content["ch_names"] == list(NICE_CHANNELS)
    assert "Fz" not in content["ch_names"] and set(OSF_CHANNELS) <= set(content["ch_names"])
    assert len(set(content["ch_names"])) == 63
    times = content["times"]
    assert times.shape == (300,) and np.allclose(times, -0.2 + np.arange(300) / 250)
    assert np.isclose(times[-250], 0.0)
    assert pickle.dumps(content, protocol=4) == raw


def test_streaming_writers_match_numpy_and_pickle_for_small_and_large_payloads() -> None:
    rng = np.random.default_rng(0)
    for shape in [(3, 2, 2, 2), (40, 4, 17, 100)]:  # inline bytes, and bytes outside a frame
        data = rng.standard_normal(shape)
        halves = (data[: shape[0] // 2], data[shape[0] // 2 :])
        lazy = {"x": LazyArray(shape, np.float64, lambda h=halves: iter(h)), "names": ["a"]}
        plain = {"x": data, "names": ["a"]}
        streamed = io.BytesIO()
        dump_pickle(lazy, streamed)
        assert streamed.getvalue() == pickle.dumps(plain, protocol=4)
        streamed, reference = io.BytesIO(), io.BytesIO()
        dump_npy_object(lazy, streamed)
        np.save(reference, plain, allow_pickle=True)
        assert streamed.getvalue() == reference.getvalue()


def test_streaming_writer_refuses_chunks_that_do_not_add_up() -> None:
    data = np.zeros((40, 4, 17, 100))
    lazy = LazyArray(data.shape, np.float64, lambda: iter([data[:10]]))
    with pytest.raises(ValueError, match="declared"):
        dump_pickle({"x": lazy}, io.BytesIO())


# ----------------------------------------------------------------------------- images and stores


def test_metadata_order_is_sorted_folder_order_and_matches_eeg_counts(osf_tree: Path) -> None:
    meta = _metadata(osf_tree)
    assert set(meta) == {
        f"{s}_img_{k}" for s in ("train", "test") for k in ("concepts", "concepts_THINGS", "files")
    }
    for split, root_name in (("train", "training_images"), ("test", "test_images")):
        on_disk = sorted(
            p.relative_to(osf_tree / "images").as_posix()
            for p in (osf_tree / "images" / root_name).glob("*/*.jpg")
        )
        assert _relative_paths(meta, split) == on_disk
        n_eeg = _load_osf(_eeg(osf_tree, 1, split))["preprocessed_eeg_data"].shape[0]
        assert len(on_disk) == n_eeg
    assert len(meta["train_img_files"]) == TINY.n_train
    folders = sorted({c for c in meta["train_img_concepts"]})
    assert folders[0].startswith("00001_") and len(folders) == TINY.n_train_concepts
    assert all(meta["train_img_concepts"][i] == folders[i // 10] for i in range(TINY.n_train))
    train_names = {c.split("_", 1)[1] for c in meta["train_img_concepts"]}
    test_names = {c.split("_", 1)[1] for c in meta["test_img_concepts"]}
    assert not train_names & test_names
    things = meta["train_img_concepts_THINGS"] + meta["test_img_concepts_THINGS"]
    assert len(set(things)) == TINY.n_train_concepts + TINY.n_test_concepts
    for concept, file in zip(meta["test_img_concepts"], meta["test_img_files"], strict=True):
        name = concept.split("_", 1)[1]
        assert file.startswith(name + "_") and file.endswith(".jpg")
        assert file[len(name) + 1 : len(name) + 3].isdigit() and file[len(name) + 3] in "bns"


def test_images_are_small_rgb_jpegs_and_concepts_look_alike(osf_tree: Path) -> None:
    meta = _metadata(osf_tree)
    paths = [osf_tree / "images" / rel for rel in _relative_paths(meta, "train")]
    pixels = []
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB" and image.size == (64, 64)
            pixels.append(np.asarray(image, dtype=np.float64).ravel())
    x = np.array(pixels).reshape(TINY.n_train_concepts, 10, -1)
    within = np.linalg.norm(x - x.mean(axis=1, keepdims=True), axis=-1).mean()
    between = np.linalg.norm(x.mean(axis=1) - x.mean(axis=(0, 1)), axis=-1).mean()
    assert between > 0 and within < 2 * between


def test_embedding_stores_match_the_image_list(osf_tree: Path) -> None:
    meta = _metadata(osf_tree)
    hashes = {s: image_list_hash(_relative_paths(meta, s)) for s in ("train", "test")}
    for backbone in ("synclr", "aligned_synclr"):
        store = load_store(osf_tree / "embeddings", backbone, expected_hashes=hashes)
        assert store.manifest.image_list_sha256 == hashes
        assert store.train.shape == (TINY.n_train, 768) and store.test.shape == (TINY.n_test, 768)
        assert store.train.dtype == np.float32
        assert "SYNTHETIC" in store.manifest.source["model"]
        assert store.manifest.source["seed"] == 3
        assert store.manifest.source["params"]["aligned_share"] == 0.8
    aligned = load_store(osf_tree / "embeddings", "aligned_synclr").manifest.source
    assert (
        aligned["alignment_share"]
        > load_store(osf_tree / "embeddings", "synclr").manifest.source["alignment_share"]
    )


def test_synthetic_json_records_what_was_generated(osf_tree: Path) -> None:
    info = json.loads((osf_tree / "synthetic.json").read_text())
    assert info["synthetic"] is True and info["complete"] is True
    assert info["seed"] == 3 and info["format"] == "osf" and info["scale"]["name"] == "tiny"
    assert info["subjects"] == [1, 2]
    assert info["shapes"]["test"] == [TINY.n_test, 80, 17, 100]
    assert (
        GenerativeParams(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in info["params"].items()}
        )
        == GenerativeParams()
    )


def test_no_images_still_writes_metadata_and_matching_stores(nice_tree: Path) -> None:
    assert not list((nice_tree / "images").rglob("*.jpg"))
    meta = _metadata(nice_tree)
    hashes = {s: image_list_hash(_relative_paths(meta, s)) for s in ("train", "test")}
    store = load_store(nice_tree / "embeddings", "synclr", expected_hashes=hashes)
    assert store.train.shape[0] == len(meta["train_img_files"]) == TINY.n_train


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path, osf_tree: Path) -> None:
    again = write_dataset(SynthConfig(out=tmp_path / "again", scale="tiny", seed=3, subjects=[2]))
    other = write_dataset(
        SynthConfig(out=tmp_path / "other", scale="tiny", seed=4, subjects=[2], images=False)
    )
    for split in ("train", "test"):
        assert _eeg(again, 2, split).read_bytes() == _eeg(osf_tree, 2, split).read_bytes()
        assert _eeg(other, 2, split).read_bytes() != _eeg(osf_tree, 2, split).read_bytes()
    for rel in ("images/image_metadata.npy", "embeddings/aligned_synclr/train.npy"):
        assert (again / rel).read_bytes() == (osf_tree / rel).read_bytes()
        assert (other / rel).read_bytes() != (osf_tree / rel).read_bytes()
    meta = _metadata(again)
    first = _relative_paths(meta, "train")[0]
    assert (again / "images" / first).read_bytes() == (osf_tree / "images" / first).read_bytes()


def test_subjects_differ_but_share_images(osf_tree: Path) -> None:
    a = _load_osf(_eeg(osf_tree, 1, "test"))["preprocessed_eeg_data"].mean(axis=1)
    b = _load_osf(_eeg(osf_tree, 2, "test"))["preprocessed_eeg_data"].mean(axis=1)
    assert not np.allclose(a, b)
    # Same images: per-image response patterns correlate more for the same image than across.
    fa = (a - a.mean(0)).reshape(len(a), -1)
    fb = (b - b.mean(0)).reshape(len(b), -1)
    corr = np.corrcoef(fa, fb)[: len(a), len(a) :]
    assert np.diag(corr).mean() > corr[~np.eye(len(a), dtype=bool)].mean() + 0.1


def test_noise_averages_down_over_repetitions(osf_tree: Path) -> None:
    data = _load_osf(_eeg(osf_tree, 1, "test"))["preprocessed_eeg_data"]
    times = FORMATS["osf"].times
    post = data[..., times >= 0.05]
    half_a, half_b = post[:, 0::2].mean(axis=1), post[:, 1::2].mean(axis=1)
    reliability = np.corrcoef(half_a.ravel(), half_b.ravel())[0, 1]
    single = np.corrcoef(post[:, 0].ravel(), post[:, 1].ravel())[0, 1]
    # signal_rms 0.1: expected about 0.01 / (0.01 + 1 / 40) = 0.29 vs 0.01 for single trials
    assert reliability > 0.15 and single < reliability / 5
    assert 0.5 < data.std() < 2.0  # whitened-like magnitude, as the real MVNN-whitened data


# ----------------------------------------------------------------------------- learnability


def _ridge_top1(root: Path, backbone: str, lam: float = 1e3) -> tuple[float, float]:
    """Closed-form ridge: averaged training EEG -> embeddings; top-1 and mean-rank on test."""

    def averaged(split: str) -> np.ndarray:
        data = _load_osf(_eeg(root, 1, split))["preprocessed_eeg_data"]
        return data.mean(axis=1).reshape(len(data), -1)

    x_train, x_test = averaged("train"), averaged("test")
    mu, sd = x_train.mean(0), x_train.std(0)
    x_train, x_test = (x_train - mu) / sd, (x_test - mu) / sd
    store = load_store(root / "embeddings", backbone)
    y_train, y_test = np.asarray(store.train, float), np.asarray(store.test, float)
    y_mean = y_train.mean(0)
    gram = x_train.T @ x_train + lam * np.eye(x_train.shape[1])
    pred = x_test @ np.linalg.solve(gram, x_train.T @ (y_train - y_mean)) + y_mean
    pred /= np.linalg.norm(pred, axis=1, keepdims=True)
    gallery = y_test / np.linalg.norm(y_test, axis=1, keepdims=True)
    sims = pred @ gallery.T
    ranks = (sims > np.diag(sims)[:, None]).sum(axis=1)
    return float((ranks == 0).mean()), float(ranks.mean())


def test_ridge_decoding_is_far_above_chance_and_better_for_the_aligned_backbone(
    synth_twin: Callable[..., Path],
) -> None:
    root = synth_twin(scale="small", subjects=[1], images=False)
    chance = 1.0 / SCALES["small"].n_test
    base_top1, base_rank = _ridge_top1(root, "synclr")
    aligned_top1, aligned_rank = _ridge_top1(root, "aligned_synclr")
    assert base_top1 > 5 * chance and aligned_top1 > 5 * chance
    assert aligned_top1 < 1.0  # learnable, not trivial
    assert aligned_top1 > base_top1 and aligned_rank < base_rank


# ----------------------------------------------------------------------------- config and CLI


def test_parse_subjects_lists_and_ranges() -> None:
    assert parse_subjects("1-3,5") == [1, 2, 3, 5]
    assert parse_subjects("2") == [2]
    assert parse_subjects("5,1,1") == [1, 5]
    for bad in ("", "a", "3-1", "1,,2"):
        with pytest.raises(ConfigError):
            parse_subjects(bad)


def test_backbone_dimensions_match_the_real_models() -> None:
    assert backbone_dim("synclr") == backbone_dim("aligned_synclr") == 768
    assert backbone_dim("clip") == backbone_dim("open_clip") == 512
    assert backbone_dim("ensemble") == 1792
    with pytest.raises(ConfigError, match="unknown backbone"):
        backbone_dim("resnet")


def test_cli_writes_the_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    argv = ["synth", "--out", str(out), "--subjects", "1", "--seed", "7", "--backbones", "clip"]
    assert main(argv) == 0
    assert "wrote synthetic THINGS-EEG2" in capsys.readouterr().out
    assert _eeg(out, 1, "train").is_file() and _eeg(out, 1, "test").is_file()
    assert not (out / "eeg" / "sub-02").exists()
    assert load_store(out / "embeddings", "clip").train.shape == (TINY.n_train, 512)
    assert len(list((out / "images").rglob("*.jpg"))) == TINY.n_train + TINY.n_test
    assert json.loads((out / "synthetic.json").read_text())["seed"] == 7
    # Re-running over a synthetic tree replaces it (here: fewer backbones, other subject).
    assert main(["synth", "--out", str(out), "--subjects", "2", "--backbones", ""]) == 0
    assert not (out / "eeg" / "sub-01").exists() and not (out / "embeddings").exists()


def test_cli_errors_exit_2_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["synth", "--out", str(foreign)]) == 2
    assert "refusing" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert main(["synth", "--out", str(tmp_path / "x"), "--subjects", "0"]) == 2
    assert main(["synth", "--out", str(tmp_path / "y"), "--backbones", "vgg"]) == 2
    assert "unknown backbone" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("fmt,axes", [("osf", [17, 100]), ("nice", [63, 250])])
def test_full_scale_has_the_real_shapes(tmp_path: Path, fmt: str, axes: list[int]) -> None:
    config = SynthConfig(out=tmp_path / "unused", scale="full", format=fmt)
    shapes = synth_manifest(config, complete=False)["shapes"]
    assert shapes == {"train": [16540, 4, *axes], "test": [200, 80, *axes]}
    assert config.subjects == list(range(1, 11))


# ----------------------------------------------------------------------------- replacing a tree


def _snapshot(root: Path) -> dict[str, str]:
    """Each file's sha256, each link's target and each folder under ``root`` (links unfollowed)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _user_things_tree(root: Path) -> Path:
    """A real-looking (fake) THINGS-EEG2 folder of a user: old files, nothing synth wrote."""
    files = {
        "eeg/sub-01/preprocessed_eeg_training.npy": b"real EEG " * 1000,
        "eeg/sub-01/preprocessed_eeg_test.npy": b"real test EEG " * 100,
        "images/image_metadata.npy": b"metadata",
        "images/training_images/00001_aardvark/aardvark_01b.jpg": b"\xff\xd8 a photo",
        "embeddings/synclr/train.npy": b"weeks of GPU time",
        "images/README.txt": b"my data, do not delete",
    }
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
        os.utime(root / rel, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    return root


def _synth_tree(out: Path) -> Path:
    """A small genuine synthetic tree (one subject, one store, no JPEGs)."""
    return write_dataset(SynthConfig(out=out, subjects=[1], backbones=["clip"], images=False))


def _refused(out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["synth", "--out", str(out), "--no-images"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def _forge_copied_manifest(user: Path, tmp_path: Path) -> None:
    """A genuine synthetic.json of another tree, copied into the user's folder."""
    other = _synth_tree(tmp_path / "other")
    (user / "synthetic.json").write_bytes((other / "synthetic.json").read_bytes())


def _forge_listing_user_files(user: Path, tmp_path: Path) -> None:
    """An 'interrupted run' manifest listing the user's files (they predate it)."""
    files = {str(p.relative_to(user)): None for p in user.rglob("*") if p.is_file()}
    (user / "synthetic.json").write_text(json.dumps({"complete": False, "files": files}))


@pytest.mark.parametrize(
    "forge,offender",
    [
        (lambda user, _: (user / "synthetic.json").write_text('{"synthetic": true}'), "synthetic"),
        (_forge_copied_manifest, "eeg/sub-01/preprocessed_eeg_test.npy"),
        (_forge_listing_user_files, "eeg/sub-01/preprocessed_eeg_test.npy"),
        (
            lambda user, _: (user / "synthetic.json").write_text(
                json.dumps({"complete": False, "files": {"eeg/../../elsewhere/x.npy": None}})
            ),
            "synthetic.json",
        ),
    ],
    ids=["old-style", "copied-from-a-synth-run", "lists-user-files", "path-escapes"],
)
def test_a_forged_manifest_never_costs_a_user_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], forge, offender: str
) -> None:
    user = _user_things_tree(tmp_path / "things")
    forge(user, tmp_path)
    before = _snapshot(tmp_path)
    assert f"{user / offender}" in _refused(user, capsys)
    assert _snapshot(tmp_path) == before


def _link_outside(tree: Path, folder: str, outside: Path) -> None:
    """Replace ``tree/folder`` by a link to a user folder outside the tree with the same files."""
    for path in sorted((tree / folder).rglob("*")):
        target = outside / path.relative_to(tree / folder)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"user data " + path.name.encode())
    shutil.rmtree(tree / folder)
    (tree / folder).symlink_to(outside, target_is_directory=True)


def _tamper_eeg_link(tree: Path, outside: Path) -> str:
    _link_outside(tree, "eeg", outside)
    return "eeg"


def _tamper_images_link(tree: Path, outside: Path) -> str:
    _link_outside(tree, "images", outside)
    return "images"


def _tamper_deep_link(tree: Path, outside: Path) -> str:
    outside.mkdir()
    (outside / "precious.npy").write_bytes(b"user data")
    path = tree / "eeg" / "sub-01" / "preprocessed_eeg_test.npy"
    path.unlink()
    path.symlink_to(outside / "precious.npy")
    return "eeg/sub-01/preprocessed_eeg_test.npy"


def _tamper_manifest_link(tree: Path, outside: Path) -> str:
    outside.mkdir()
    (outside / "synthetic.json").write_bytes((tree / "synthetic.json").read_bytes())
    (tree / "synthetic.json").unlink()
    (tree / "synthetic.json").symlink_to(outside / "synthetic.json")
    return "synthetic.json"


def _tamper_extra_file(tree: Path, outside: Path) -> str:
    (tree / "eeg" / "sub-01" / "my_analysis.ipynb").write_text("{}")
    return "eeg/sub-01/my_analysis.ipynb"


def _tamper_extra_folder(tree: Path, outside: Path) -> str:
    (tree / "embeddings" / "dinov2").mkdir()
    (tree / "embeddings" / "dinov2" / "train.npy").write_bytes(b"computed by the user")
    return "embeddings/dinov2"


def _tamper_modified_file(tree: Path, outside: Path) -> str:
    with open(tree / "embeddings" / "clip" / "train.npy", "ab") as fh:
        fh.write(b"appended by the user")
    return "embeddings/clip/train.npy"


def _tamper_replaced_file(tree: Path, outside: Path) -> str:
    path = tree / "eeg" / "sub-01" / "preprocessed_eeg_training.npy"
    size = path.stat().st_size
    path.write_bytes(b"\x01" * size)  # same size, written later: the user's own data now
    return "eeg/sub-01/preprocessed_eeg_training.npy"


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_eeg_link,
        _tamper_images_link,
        _tamper_deep_link,
        _tamper_manifest_link,
        _tamper_extra_file,
        _tamper_extra_folder,
        _tamper_modified_file,
        _tamper_replaced_file,
    ],
)
def test_a_rerun_replaces_only_unchanged_files_of_the_previous_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tamper
) -> None:
    tree = _synth_tree(tmp_path / "twin")
    offender = tamper(tree, tmp_path / "outside")
    before = _snapshot(tmp_path)
    assert f"{tree / offender}:" in _refused(tree, capsys)
    assert _snapshot(tmp_path) == before


def test_a_rerun_replaces_the_previous_run_and_leaves_the_prepared_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = _synth_tree(tmp_path / "twin")
    (tree / ".study-cache").mkdir()
    (tree / ".study-cache" / "entry.npy").write_bytes(b"cache")
    assert main(["synth", "--out", str(tree), "--subjects", "2", "--backbones", "synclr"]) == 0
    capsys.readouterr()
    info = json.loads((tree / "synthetic.json").read_text())
    assert info["complete"] is True
    written = [p for p in tree.rglob("*") if p.is_file() and ".study-cache" not in p.parts]
    on_disk = sorted(str(p.relative_to(tree)) for p in written)
    assert on_disk == sorted([*info["files"], "synthetic.json"])
    assert not (tree / "eeg" / "sub-01").exists() and not (tree / "embeddings" / "clip").exists()
    assert (tree / ".study-cache" / "entry.npy").read_bytes() == b"cache"
    for rel, facts in info["files"].items():
        st = (tree / rel).stat()
        assert facts == {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def test_an_interrupted_run_is_listed_up_front_and_replaced_by_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import study.synthetic.writer as writer

    real_write = writer.write_eeg_file
    calls = []

    def crash_on_second_file(path: Path, payload: dict, fmt: writer.EEGFormat) -> None:
        calls.append(path)
        if len(calls) == 2:
            (path.parent / f".{path.name}.abc_1234.tmp").write_bytes(b"half a file")
            raise KeyboardInterrupt
        real_write(path, payload, fmt)

    monkeypatch.setattr(writer, "write_eeg_file", crash_on_second_file)
    out = tmp_path / "twin"
    assert main(["synth", "--out", str(out), "--subjects", "1", "--no-images"]) == 130
    info = json.loads((out / "synthetic.json").read_text())
    assert info["complete"] is False
    assert "eeg/sub-01/preprocessed_eeg_test.npy" in info["files"]
    assert set(info["files"].values()) == {None}
    monkeypatch.setattr(writer, "write_eeg_file", real_write)
    assert main(["synth", "--out", str(out), "--subjects", "1", "--no-images"]) == 0
    assert json.loads((out / "synthetic.json").read_text())["complete"] is True
    assert not list(out.rglob("*.tmp"))
