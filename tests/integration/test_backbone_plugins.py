"""`study embed` with plug-in backbones saved in each library's real format, fully offline.

Every store is compared with the library's own per-image forward pass on the same images.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from study.cli import main
from tests.helpers import plugin_fixtures as fx
from trainables.embedding.store import image_list_hash, load_store

TRAIN = [
    "training_images/00001_aardvark/aardvark_01b.jpg",
    "training_images/00001_aardvark/aardvark_02s.jpg",
    "training_images/00002_abacus/abacus_01b.jpg",
    "training_images/00003_accordion/accordion_01b.jpg",
]
TEST = ["test_images/00001_aircraft_carrier/aircraft_carrier_06s.jpg"]
HASHES = {"train": image_list_hash(TRAIN), "test": image_list_hash(TEST)}
FILES = {
    "oc": "open_clip/ViT-S-32/custom/open_clip_model.bin",
    "tm": "timm/vit_tiny_patch16_224/model.safetensors",
    "tv": "torchvision/resnet18/ResNet18_Weights.IMAGENET1K_V1.pth",
    "ts": "scripted/resnet18_16.pt",
}
BACKBONES_FILE = f"""
backbones:
  oc: {{kind: open_clip, architecture: {fx.OPEN_CLIP_ARCH}}}
  tm: {{kind: timm, model: {fx.TIMM_MODEL}}}
  tv: {{kind: torchvision, model: {fx.TORCHVISION_MODEL}, weights: {fx.TORCHVISION_WEIGHTS}}}
  ts: {{kind: torchscript, file: {FILES["ts"]}, preprocessing: imagenet}}
transforms:
  lin: {{file: lin.pt}}
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Random-weight models of every kind, written once; the in-memory originals too."""
    root = tmp_path_factory.mktemp("plugin_models")
    writers = {
        "oc": fx.write_open_clip,
        "tm": fx.write_timm,
        "tv": fx.write_torchvision,
        "ts": fx.write_torchscript,
    }
    return root, {name: write(root, FILES[name]) for name, write in writers.items()}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny THINGS-EEG2 folder: real image layout, varied sizes, one grayscale image."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for i, rel in enumerate(TRAIN + TEST):
        path = root / "images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        size = (500, 500) if i % 3 else (320, 410)
        img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
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
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    yield


def _reference(kind: str, model: Any) -> tuple[Callable[[Any], torch.Tensor], Callable]:
    """(per-image preprocessing, forward) as the library itself gives them for ``model``."""
    if kind == "oc":
        import open_clip

        _, _, preprocess = open_clip.create_model_and_transforms(fx.OPEN_CLIP_ARCH)
        return preprocess, model.encode_image
    if kind == "tm":
        from timm.data import create_transform, resolve_data_config

        transform = create_transform(**resolve_data_config({}, model=model))
        return transform, lambda x: model.forward_head(model.forward_features(x), pre_logits=True)
    if kind == "tv":
        from torchvision.models import get_weight
        from torchvision.models.feature_extraction import create_feature_extractor

        features = create_feature_extractor(model, return_nodes={"flatten": "out"})
        return get_weight(fx.TORCHVISION_WEIGHTS).transforms(), lambda x: features(x)["out"]
    from torchvision import transforms as T

    imagenet = T.Compose(
        [
            T.Resize(256, interpolation=T.InterpolationMode.BILINEAR),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    return imagenet, model


def _per_image(kind: str, model: Any, paths: list[Path]) -> np.ndarray:
    preprocess, forward = _reference(kind, model)
    with torch.no_grad():
        rows = [forward(preprocess(Image.open(p).convert("RGB")).unsqueeze(0)) for p in paths]
    return np.concatenate([r.numpy() for r in rows])


def _embed(data: Path, models_dir: Path, out: Path, names: str, spec: Path) -> int:
    return main(
        [
            "embed",
            "--data", str(data),
            "--backbones", names,
            "--backbones-file", str(spec),
            "--models-dir", str(models_dir),
            "--embeddings-dir", str(out),
            "--batch-size", "3",
            "--workers", "2",
        ]
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["oc", "tm", "tv", "ts"])
def test_plugin_store_equals_the_library_forward_pass(
    kind: str, models: tuple[Path, dict[str, Any]], data_dir: Path, tmp_path: Path
) -> None:
    models_dir, originals = models
    spec = tmp_path / "backbones.yaml"
    spec.write_text(BACKBONES_FILE)
    out = tmp_path / "embeddings"
    assert _embed(data_dir, models_dir, out, kind, spec) == 0
    store = load_store(out, kind, expected_hashes=HASHES)
    expected = _per_image(kind, originals[kind], [data_dir / "images" / r for r in TRAIN + TEST])
    found = np.concatenate([store.train, store.test])
    assert found.shape == expected.shape
    assert np.abs(found - expected).max() <= 1e-5 * max(1.0, float(np.abs(expected).max()))
    manifest = store.manifest
    weights = models_dir / FILES[kind]
    assert manifest.source["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest.preprocessing.startswith("PIL .convert('RGB'); ")
    assert {"oc": "Normalize(mean=(0.4814", "tm": "Resize(size=248", "tv": "resize_size=[256]"}.get(
        kind, "Resize(size=256"
    ) in manifest.preprocessing
    assert not (out / f"{kind}.partial").exists()


@pytest.mark.slow
def test_transform_of_a_plugin_and_a_broken_weight_file(
    models: tuple[Path, dict[str, Any]],
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    models_dir, _ = models
    linear = torch.nn.Linear(512, 8)
    torch.save(linear.state_dict(), models_dir / "lin.pt")
    spec = tmp_path / "backbones.yaml"
    spec.write_text(BACKBONES_FILE)
    out = tmp_path / "embeddings"
    assert _embed(data_dir, models_dir, out, "tv+lin", spec) == 0
    base, aligned = load_store(out, "tv"), load_store(out, "tv+lin")
    with torch.no_grad():
        expected = linear(torch.from_numpy(np.asarray(base.train))).numpy()
    np.testing.assert_allclose(aligned.train, expected, rtol=1e-5, atol=1e-5)
    transform = aligned.manifest.source["transform"]
    assert transform["sha256"] == hashlib.sha256((models_dir / "lin.pt").read_bytes()).hexdigest()
    assert aligned.manifest.source["base_source"] == base.manifest.source

    broken = tmp_path / "broken"
    broken.mkdir()
    cut = broken / FILES["tm"]
    cut.parent.mkdir(parents=True)
    cut.write_bytes((models_dir / FILES["tm"]).read_bytes()[:1000])
    capsys.readouterr()
    assert _embed(data_dir, broken, tmp_path / "emb2", "tm", spec) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {cut}: cannot load weights of backbone")
