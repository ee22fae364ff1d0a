"""Backbones file, transform files, pairing and transformed stores (no model is loaded here)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from study.cli import main
from study.spec import split_cell_key
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.alignment import load_transform
from trainables.embedding.backbones import get_backbone
from trainables.embedding.catalog import TransformedBackbone, load_catalog, read_backbones_file
from trainables.embedding.embed import EmbedSettings, embed_backbone
from trainables.embedding.pairing import aligned_pairs, unaligned_base
from trainables.embedding.plugins import PluginBackbone
from trainables.embedding.store import StoreManifest, image_list_hash, load_store, write_store

LISTS = {"train": ["training_images/a/a_01b.jpg", "training_images/b/b_01b.jpg"], "test": ["t.jpg"]}
HASHES = {s: image_list_hash(p) for s, p in LISTS.items()}

EXAMPLE = """
backbones:
  oc_b32: {kind: open_clip, architecture: ViT-B-32, pretrained: laion2b_s34b_b79k}
  vit_small:
    {kind: timm, model: vit_small_patch16_224.augreg_in21k, file: timm/vit_small.safetensors}
  resnet50: {kind: torchvision, model: resnet50, weights: ResNet50_Weights.IMAGENET1K_V2}
  scripted: {kind: torchscript, file: /abs/net.pt, preprocessing: imagenet}
transforms:
  glocal: {file: transforms/oc_b32_glocal.npz}
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_pairs_dreamsim_and_transformed_backbones_with_their_base() -> None:
    names = ["synclr", "aligned_synclr", "oc_b32", "oc_b32+glocal", "oc_b32+glocal+x", "dino"]
    assert aligned_pairs(names) == [
        ("aligned_synclr", "synclr"),
        ("oc_b32+glocal", "oc_b32"),
        ("oc_b32+glocal+x", "oc_b32+glocal"),
    ]
    assert unaligned_base("aligned_dino") == "dino" and unaligned_base("dino") is None
    assert unaligned_base("aligned_") is None and unaligned_base("aligned_x+t") == "aligned_x"
    assert aligned_pairs(["clip+glocal"]) == []  # the base is not in the study


def test_cell_keys_with_transforms_stay_unambiguous() -> None:
    assert split_cell_key("nice+clip+glocal") == ("nice", "clip+glocal")
    assert split_cell_key("clip+glocal") == (None, "clip+glocal")
    assert split_cell_key("aligned_clip") == (None, "aligned_clip")


def test_backbones_file_example_per_kind(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path / "b.yaml", EXAMPLE))
    kinds = {n: catalog.get(n).kind for n in ("oc_b32", "vit_small", "resnet50", "scripted")}
    assert kinds == {
        "oc_b32": "open_clip",
        "vit_small": "timm",
        "resnet50": "torchvision",
        "scripted": "torchscript",
    }
    assert catalog.get("oc_b32").required_files() == [
        "open_clip/ViT-B-32/laion2b_s34b_b79k/open_clip_model.bin"
    ]
    glocal = catalog.get("oc_b32+glocal")
    assert isinstance(glocal, TransformedBackbone) and glocal.base.name == "oc_b32"
    assert glocal.required_files()[-1] == "transforms/oc_b32_glocal.npz"
    undeclared = catalog.get("aligned_synclr+other")
    assert undeclared.base is get_backbone("aligned_synclr")
    assert undeclared.transform_files() == tuple(
        f"transforms/aligned_synclr/other{s}" for s in (".npz", ".npy", ".pt")
    )
    assert isinstance(load_catalog().get("clip_vitl14_openai"), PluginBackbone)  # registry
    assert [b.name for b in catalog.parse("synclr, oc_b32+glocal")] == ["synclr", "oc_b32+glocal"]
    every = [b.name for b in catalog.parse("all")]
    assert len(every) == 16 and every[-4:] == ["oc_b32", "vit_small", "resnet50", "scripted"]
    assert len(load_catalog().parse("all")) == 12  # registry plug-ins are named one by one


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("backbones: {x: {kind: keras, model: a}}", "backbones.x"),
        ("backbones: {x: {kind: timm, model: a, layers: 3}}", "layers is not a known setting"),
        ("backbones: {x: {kind: timm}}", "model is missing"),
        ("backbones: {x: {kind: torchscript, file: a.pt}}", "preprocessing is missing"),
        ("backbones: {x+y: {kind: timm, model: a}}", "'x\\+y' must be letters"),
        ("backbones: {eegnet: {kind: timm, model: a}}", "is an EEG encoder's name"),
        ("backbones: {synclr: {kind: timm, model: a}}", "is a built-in name"),
        ("backbones: {x: {kind: timm, model: a, preprocessing: vgg}}", "unknown preprocessing"),
        ("transforms: {g: {file: 3}}", "transforms.g.file must be a string"),
        ("backbones: [a, b]", "backbones must be a mapping"),
        ("backbones: {x: [}", "not valid YAML"),
        ("other: 1", "other is not a known setting"),
    ],
)
def test_bad_backbones_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "b.yaml", text)
    with pytest.raises(ConfigError, match=message) as err:
        read_backbones_file(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(path))


def test_unknown_names_and_missing_file(tmp_path: Path) -> None:
    catalog = load_catalog()
    with pytest.raises(ConfigError, match="unknown backbone 'vit_small'"):
        catalog.parse("synclr,vit_small")
    with pytest.raises(ConfigError, match="invalid transform name"):
        catalog.get("synclr+a/b")
    with pytest.raises(ConfigError, match="backbones file not found"):
        load_catalog(tmp_path / "none.yaml")


def test_cli_bad_backbones_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write(tmp_path / "b.yaml", "backbones: {x: {kind: timm}}")
    assert main(["embed", "--list", "--backbones-file", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {path}: backbones.x")


def test_missing_plugin_files_name_the_download_command(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "b.yaml", EXAMPLE)
    (tmp_path / "models").mkdir()
    argv = ["embed", "--data", str(tmp_path), "--models-dir", str(tmp_path / "models")]
    assert main([*argv, "--backbones", "vit_small+glocal", "--backbones-file", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "vit_small+glocal: timm/vit_small.safetensors, " in err
    assert f"--backbones vit_small+glocal --backbones-file {path} --models-dir" in err


def test_list_shows_file_backbones_and_transforms(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "b.yaml", EXAMPLE)
    assert main(["embed", "--list", "--backbones-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "vit_small" in out and "oc_b32+glocal" in out and "timm/vit_small.safetensors" in out


def _affine(rng: np.random.Generator, d_in: int = 6, d_out: int = 4) -> dict[str, np.ndarray]:
    return {
        "weights": rng.standard_normal((d_in, d_out)),
        "bias": rng.standard_normal(d_out),
        "mean": rng.standard_normal(d_in),
        "std": rng.uniform(0.5, 2.0, d_in),
    }


def test_transform_formats_equal_the_matrix_product(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    t = _affine(rng)
    expected = ((x - t["mean"]) / t["std"]) @ t["weights"] + t["bias"]
    np.savez(tmp_path / "glocal.npz", **t)
    np.testing.assert_allclose(load_transform(tmp_path / "glocal.npz").apply(x), expected, 1e-6)
    np.savez(tmp_path / "scalar.npz", weights=t["weights"], mean=np.float64(0.5), std=2.0)
    np.testing.assert_allclose(
        load_transform(tmp_path / "scalar.npz").apply(x), ((x - 0.5) / 2.0) @ t["weights"], 1e-6
    )
    np.save(tmp_path / "matrix.npy", t["weights"])
    np.testing.assert_allclose(load_transform(tmp_path / "matrix.npy").apply(x), x @ t["weights"])
    torch.save({k: torch.from_numpy(v) for k, v in t.items()}, tmp_path / "dict.pt")
    np.testing.assert_allclose(load_transform(tmp_path / "dict.pt").apply(x), expected, 1e-6)
    linear = torch.nn.Linear(6, 4).double()
    torch.save(linear.state_dict(), tmp_path / "linear.pt")
    with torch.no_grad():
        by_torch = linear(torch.from_numpy(x).double()).numpy()
    np.testing.assert_allclose(load_transform(tmp_path / "linear.pt").apply(x), by_torch, 1e-6)


def _bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    rng = np.random.default_rng(1)
    t = _affine(rng)
    cases = []

    def npz(name: str, message: str, **arrays: object) -> None:
        np.savez(tmp_path / name, **arrays)
        cases.append((tmp_path / name, message))

    npz("keys.npz", "no 'weights' matrix .*found W, b", W=t["weights"], b=t["bias"])
    npz("bias.npz", "'bias' has shape \\(3,\\)", weights=t["weights"], bias=np.ones(3))
    npz("nan.npz", "'weights' holds non-finite", weights=np.full((2, 2), np.nan))
    npz("std0.npz", "'std' holds zeros", weights=t["weights"], std=np.zeros(6))
    npz("vector.npz", "must be 2-D", weights=np.ones(3))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "bias.npz").read_bytes()[:40])
    cases.append((tmp_path / "cut.npz", "unreadable transform"))
    np.save(tmp_path / "objects.npy", np.array([{"weights": 1}], dtype=object), allow_pickle=True)
    cases.append((tmp_path / "objects.npy", "unreadable transform"))
    torch.save({"weights": torch.nn.Linear(2, 2)}, tmp_path / "module.pt")
    cases.append((tmp_path / "module.pt", "unreadable transform"))
    (tmp_path / "t.txt").write_text("1 2")
    cases.append((tmp_path / "t.txt", "must be one of .npz, .npy, .pt"))
    cases.append((tmp_path / "absent.npz", "transform file not found"))
    return cases


def test_bad_transform_files_are_one_line(tmp_path: Path) -> None:
    for path, message in _bad_files(tmp_path):
        with pytest.raises(DataError, match=message) as err:
            load_transform(path)
        assert "\n" not in str(err.value) and str(err.value).startswith(str(path))


def _base_store(root: Path, models: Path, dim: int = 768) -> tuple[np.ndarray, np.ndarray]:
    """A complete ``synclr`` store that `embed_backbone` takes as up to date (no model load)."""
    rng = np.random.default_rng(2)
    train, test = rng.standard_normal((2, dim)), rng.standard_normal((1, dim))
    source = get_backbone("synclr").source() | {"models_dir": str(models.resolve())}
    manifest = StoreManifest("synclr", dim, 2, 1, HASHES, source, "dreamsim preprocess", "none")
    write_store(root, manifest, train, test)
    return train.astype(np.float32), test.astype(np.float32)


def test_transformed_store_is_the_base_store_through_the_transform(tmp_path: Path) -> None:
    models, root = tmp_path / "models", tmp_path / "emb"
    (models / "transforms/synclr").mkdir(parents=True)
    train, test = _base_store(root, models)
    t = _affine(np.random.default_rng(3), d_in=768)
    path = models / "transforms/synclr/glocal.npz"
    np.savez(path, **t)
    backbone = load_catalog().get("synclr+glocal")
    settings = EmbedSettings(workers=0)
    result = embed_backbone(backbone, models, tmp_path / "no-images", LISTS, root, settings)
    assert result.computed == {"train": 2, "test": 1}
    store = load_store(root, "synclr+glocal", expected_hashes=HASHES)
    for rows, found in ((train, store.train), (test, store.test)):
        expected = ((rows - t["mean"]) / t["std"]) @ t["weights"] + t["bias"]
        np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)
    source = store.manifest.source
    assert source["transform"]["file"] == str(path.resolve())
    assert source["transform"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source["transform"] | {"in_dim": 768, "out_dim": 4, "bias": True} == source["transform"]
    assert source["base"] == "synclr" and source["base_source"]["call"] == backbone.base.call
    assert store.manifest.preprocessing == "dreamsim preprocess" and store.manifest.dim == 4

    again = embed_backbone(backbone, models, tmp_path / "no-images", LISTS, root, settings)
    assert again.up_to_date
    np.savez(path, **(t | {"bias": np.zeros(4)}))
    changed = embed_backbone(backbone, models, tmp_path / "no-images", LISTS, root, settings)
    assert not changed.up_to_date
    assert np.abs(load_store(root, "synclr+glocal").train - store.train).max() > 1e-3


def test_transform_dim_mismatch_and_pinned_hash(tmp_path: Path) -> None:
    models, root = tmp_path / "models", tmp_path / "emb"
    models.mkdir()
    _base_store(root, models)
    np.savez(models / "g.npz", **_affine(np.random.default_rng(4)))
    yaml_file = _write(tmp_path / "b.yaml", "transforms: {g: {file: g.npz}}")
    backbone = load_catalog(yaml_file).get("synclr+g")
    settings = EmbedSettings(workers=0)
    with pytest.raises(DataError, match="takes 6-d input, but 'synclr' embeddings are 768-d"):
        embed_backbone(backbone, models, tmp_path, LISTS, root, settings)
    pinned = _write(tmp_path / "p.yaml", f"transforms: {{g: {{file: g.npz, sha256: {'ab' * 32}}}}}")
    with pytest.raises(DataError, match="differs from the pinned"):
        embed_backbone(
            load_catalog(pinned).get("synclr+g"), models, tmp_path, LISTS, root, settings
        )


def test_download_models_fetches_declared_transforms(tmp_path: Path, capsys) -> None:
    published = tmp_path / "published.npz"
    np.savez(published, **_affine(np.random.default_rng(5)))
    digest = hashlib.sha256(published.read_bytes()).hexdigest()
    models = tmp_path / "models"
    (models / "scripted").mkdir(parents=True)
    (models / "scripted/net.pt").write_bytes(b"stand-in")
    spec = _write(
        tmp_path / "b.yaml",
        "backbones: {net: {kind: torchscript, file: scripted/net.pt, preprocessing: imagenet}}\n"
        f"transforms: {{g: {{file: t/g.npz, url: '{published.as_uri()}', sha256: {digest}}}}}",
    )
    argv = ["download-models", "--models-dir", str(models), "--backbones-file", str(spec)]
    assert main([*argv, "--backbones", "net+g"]) == 0
    assert (models / "t/g.npz").read_bytes() == published.read_bytes()
    assert "all files for net+g present" in capsys.readouterr().out

    pinned = spec.read_text().replace(digest, "ab" * 32).replace("t/g.npz", "t/h.npz")
    spec.write_text(pinned)
    assert main([*argv, "--backbones", "net+g"]) == 2
    assert "does not match its sha256" in capsys.readouterr().err
    assert not (models / "t/h.npz").exists() and not (models / "t/h.npz.download").exists()

    (models / "scripted/net.pt").unlink()
    assert main([*argv, "--backbones", "net"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "names no published weights; copy its weight file" in err
    (models / "scripted/net.pt").write_bytes(b"stand-in")
    assert main([*argv, "--backbones", "net+other"]) == 2
    assert "transform 'other' has no url in the backbones file" in capsys.readouterr().err


def test_a_transform_of_a_complete_base_store_needs_no_weights_and_no_images(
    tmp_path: Path, capsys
) -> None:
    data = tmp_path / "data"
    synth = ["synth", "--out", str(data), "--scale", "tiny", "--subjects", "1", "--no-images"]
    assert main([*synth, "--backbones", "synclr"]) == 0
    base = {s: np.load(data / "embeddings" / "synclr" / f"{s}.npy") for s in ("train", "test")}
    rng = np.random.default_rng(0)
    weights, bias = rng.standard_normal((base["train"].shape[1], 5)), rng.standard_normal(5)
    (tmp_path / "models").mkdir()  # no model file at all: the base's store is used as it is
    np.savez(tmp_path / "models" / "fit.npz", weights=weights, bias=bias)
    path = _write(tmp_path / "b.yaml", "transforms:\n  fit:\n    file: fit.npz\n")
    argv = ["embed", "--data", str(data), "--models-dir", str(tmp_path / "models")]
    assert main([*argv, "--backbones", "synclr+fit", "--backbones-file", str(path)]) == 0
    capsys.readouterr()
    store = data / "embeddings" / "synclr+fit"
    for split, rows in base.items():
        np.testing.assert_allclose(
            np.load(store / f"{split}.npy"), rows @ weights + bias, rtol=1e-5
        )
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["source"]["base"] == "synclr" and manifest["source"]["transform"]["sha256"]
    assert (
        manifest["source"]["base_source"]
        == json.loads((data / "embeddings" / "synclr" / "manifest.json").read_text())["source"]
    )
