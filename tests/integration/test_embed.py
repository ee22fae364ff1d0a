"""`study embed` end to end on random-weight DreamSim models, fully offline."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import trainables.embedding.embed as image_embedding
from study.cli import main
from tests.helpers.model_fixtures import SUPPORTED_TYPES, shared_random_models
from trainables.embedding.backbones import get_backbone
from trainables.embedding.embed import EmbedSettings, embed_backbone
from trainables.embedding.store import image_list_hash, load_store

TRAIN = [
    "training_images/00001_aardvark/aardvark_01b.jpg",
    "training_images/00001_aardvark/aardvark_02s.jpg",
    "training_images/00002_abacus/abacus_01b.jpg",
    "training_images/00003_accordion/accordion_01b.jpg",
]
TEST = ["test_images/00001_aircraft_carrier/aircraft_carrier_06s.jpg"]
LISTS = {"train": TRAIN, "test": TEST}
DIMS = {"synclr": 768, "dino": 768, "clip": 512, "open_clip": 512, "ensemble": 1792}


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_random_models(tmp_path_factory.getbasetemp(), SUPPORTED_TYPES)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny THINGS-EEG2 folder: real image layout, varied sizes and modes, a dummy EEG file."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for i, rel in enumerate(TRAIN + TEST):
        path = root / "images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        size = (500, 500) if i % 3 else (320, 410)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        img = Image.fromarray(pixels)
        (img.convert("L") if i == 2 else img).save(path, quality=90)
    subject = root / "eeg" / "sub-01"
    subject.mkdir(parents=True)
    (subject / "preprocessed_eeg_training.npy").touch()
    return root


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    real_connect = socket.socket.connect

    def blocked(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address}")
        real_connect(sock, address)  # local sockets: DataLoader workers share tensors over them

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    yield


def _reference(models_dir: Path, short: str, paths: list[Path]) -> dict[str, np.ndarray]:
    """Per backbone, what dreamsim's own per-image ``embed(preprocess(img))`` loop gives."""
    from dreamsim import PerceptualModel, dreamsim
    from dreamsim.config import dreamsim_args

    kind = get_backbone(short).dreamsim_type.name
    aligned, preprocess = dreamsim(
        pretrained=True,
        device="cpu",
        cache_dir=str(models_dir),
        normalize_embeds=False,
        dreamsim_type=kind,
    )
    unaligned = PerceptualModel(
        **dreamsim_args["model_config"][kind],
        device="cpu",
        load_dir=str(models_dir),
        normalize_embeds=False,
        baseline=True,
    ).eval()
    models = {f"aligned_{short}": aligned, short: unaligned}
    with torch.no_grad():
        return {
            name: np.concatenate([m.embed(preprocess(Image.open(p))).numpy() for p in paths])
            for name, m in models.items()
        }


def _embed_cli(data: Path, models: Path, out: Path, backbones: str) -> int:
    return main(
        [
            "embed",
            "--data", str(data),
            "--backbones", backbones,
            "--models-dir", str(models),
            "--embeddings-dir", str(out),
            "--batch-size", "3",
            "--workers", "2",
        ]
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("short", ["synclr", "dino", "clip", "open_clip", "ensemble"])
def test_embed_equals_dreamsim_per_image_embed(
    short: str, models_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "embeddings"
    assert _embed_cli(data_dir, models_dir, out, f"aligned_{short},{short}") == 0
    images = data_dir / "images"
    hashes = {"train": image_list_hash(TRAIN), "test": image_list_hash(TEST)}
    expected = _reference(models_dir, short, [images / r for r in TRAIN + TEST])
    stores = {}
    for name in (f"aligned_{short}", short):
        store = load_store(out, name, expected_hashes=hashes)
        assert store.manifest.dim == get_backbone(name).dim == DIMS[short]
        assert store.manifest.source["call"] == get_backbone(name).call
        found = np.concatenate([store.train, store.test])
        np.testing.assert_allclose(found, expected[name], rtol=0, atol=1e-5)
        stores[name] = store
    assert not (out / f"{short}.partial").exists()
    # the LoRA changes the features: aligned and unaligned are different models
    assert np.abs(stores[f"aligned_{short}"].train - stores[short].train).max() > 1e-3


@pytest.mark.slow
def test_corrupt_image_names_the_file(
    models_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    bad = data / "images" / TRAIN[3]
    bad.write_bytes(bad.read_bytes()[:300])
    assert _embed_cli(data, models_dir, tmp_path / "emb", "synclr") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {bad}: cannot decode image")


def test_missing_image_names_the_file(data_dir: Path, tmp_path: Path) -> None:
    lists = {"train": [*TRAIN, "training_images/00004_b/b_01b.jpg"], "test": TEST}
    with pytest.raises(image_embedding.DataError, match="00004_b/b_01b.jpg: image not found"):
        embed_backbone(  # an empty models folder: the images are checked before any model loads
            get_backbone("synclr"),
            tmp_path / "no-models",
            data_dir / "images",
            lists,
            tmp_path,
            EmbedSettings(),
        )


class _CountingModel:
    """Wraps a loaded model, counting the images its ``embed`` sees."""

    def __init__(self, model: object, counter: list[int]) -> None:
        self.model, self.counter = model, counter

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        self.counter.append(len(x))
        return self.model.embed(x)


@pytest.mark.slow
def test_resume_after_interruption_and_noop_rerun(
    models_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backbone = get_backbone("synclr")
    images = data_dir / "images"
    settings = EmbedSettings(batch_size=2, workers=0, chunk_rows=2)
    seen: list[int] = []
    real_load = image_embedding.load_backbone
    monkeypatch.setattr(
        image_embedding,
        "load_backbone",
        lambda *a, **k: _CountingModel(real_load(*a, **k), seen),
    )
    full = embed_backbone(backbone, models_dir, images, LISTS, tmp_path / "full", settings)
    assert full.computed == {"train": 4, "test": 1} and sum(seen) == 5

    real_save = image_embedding.save_npy_atomic
    writes: list[Path] = []

    def crash_after_first_chunk(path: Path, array: np.ndarray) -> None:
        if writes:
            raise KeyboardInterrupt
        writes.append(path)
        real_save(path, array)

    monkeypatch.setattr(image_embedding, "save_npy_atomic", crash_after_first_chunk)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        embed_backbone(backbone, models_dir, images, LISTS, out, settings)
    assert [p.name for p in writes] == ["train-00000000-00000002.npy"]
    assert not (out / "synclr").exists()
    monkeypatch.setattr(image_embedding, "save_npy_atomic", real_save)

    seen.clear()
    resumed = embed_backbone(backbone, models_dir, images, LISTS, out, settings)
    assert resumed.resumed == {"train": 2, "test": 0}
    assert resumed.computed == {"train": 2, "test": 1} and sum(seen) == 3
    a, b = load_store(tmp_path / "full", "synclr"), load_store(out, "synclr")
    np.testing.assert_allclose(b.train, a.train, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b.test, a.test, rtol=0, atol=1e-6)
    assert not (out / "synclr.partial").exists()

    seen.clear()
    caplog.clear()
    manifest_mtime = (out / "synclr" / "manifest.json").stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="trainables"):
        again = embed_backbone(backbone, models_dir, images, LISTS, out, settings)
    assert again.up_to_date and not again.computed and seen == []
    assert "nothing to do" in caplog.messages[-1]
    assert (out / "synclr" / "manifest.json").stat().st_mtime_ns == manifest_mtime


def test_changed_image_list_discards_partial_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    partial = tmp_path / "synclr.partial"
    image_embedding._open_partial(partial, {"hashes": "old"})
    stale = partial / "train-00000000-00000002.npy"
    np.save(stale, np.zeros((2, 768), np.float32))
    with caplog.at_level(logging.INFO, logger="trainables"):
        image_embedding._open_partial(partial, {"hashes": "new"})
    assert not stale.exists() and "discarding" in caplog.messages[0]
