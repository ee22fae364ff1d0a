"""Backbone registry: names, dims, files, and agreement with the installed dreamsim package."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from study.cli import main
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.backbones import (
    BACKBONES,
    DREAMSIM_TYPES,
    check_files,
    get_backbone,
    parse_backbones,
)

EXPECTED_DIMS = {
    "synclr": 768,
    "dino": 768,
    "dinov2": 768,
    "clip": 512,
    "open_clip": 512,
    "ensemble": 1792,
}


def _touch_required(backbone_name: str, models_dir: Path) -> None:
    for req in get_backbone(backbone_name).required_files():
        path = models_dir / (req if isinstance(req, str) else req[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def test_registry_has_aligned_and_unaligned_pairs_with_dims() -> None:
    assert len(BACKBONES) == 12
    for short, dim in EXPECTED_DIMS.items():
        aligned, base = BACKBONES[f"aligned_{short}"], BACKBONES[short]
        assert aligned.aligned and not base.aligned
        assert aligned.dreamsim_type is base.dreamsim_type
        assert aligned.dim == base.dim == dim
        assert "baseline=True" in base.call and "pretrained=True" in aligned.call


def test_registry_mirrors_dreamsim_config() -> None:
    from dreamsim.config import dreamsim_args
    from dreamsim.model import EMBED_DIMS

    for name, t in DREAMSIM_TYPES.items():
        assert dreamsim_args["model_config"][name] == t.model_config
        parts = zip(t.model_type.split(","), t.feat_type.split(","), strict=True)
        assert sum(EMBED_DIMS[m][f] for m, f in parts) == t.dim


@pytest.mark.parametrize("dreamsim_type", sorted(DREAMSIM_TYPES))
def test_required_files_satisfy_dreamsims_download_check(
    dreamsim_type: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch.hub
    from dreamsim.model import download_weights

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("dreamsim tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    name = next(
        b.name for b in BACKBONES.values() if b.aligned and b.dreamsim_type.name == dreamsim_type
    )
    _touch_required(name, tmp_path)
    download_weights(str(tmp_path), dreamsim_type)  # all present: no download attempted
    (tmp_path / DREAMSIM_TYPES[dreamsim_type].release_files[0]).unlink()
    with pytest.raises(AssertionError, match="tried to download"):
        download_weights(str(tmp_path), dreamsim_type)


def test_lora_weights_accept_either_format(tmp_path: Path) -> None:
    backbone = get_backbone("aligned_clip")
    _touch_required("aligned_clip", tmp_path)
    assert backbone.missing_files(tmp_path) == []
    (tmp_path / "clip_vitb32_single_lora/adapter_model.safetensors").unlink()
    assert backbone.missing_files(tmp_path) == [
        "clip_vitb32_single_lora/adapter_model.safetensors | "
        "clip_vitb32_single_lora/adapter_model.bin"
    ]
    (tmp_path / "clip_vitb32_single_lora/adapter_model.bin").touch()
    assert backbone.missing_files(tmp_path) == []


def test_unaligned_needs_no_lora(tmp_path: Path) -> None:
    _touch_required("dino", tmp_path)
    assert get_backbone("dino").missing_files(tmp_path) == []
    assert "dino_vitb16_single_lora/adapter_config.json" in get_backbone(
        "aligned_dino"
    ).missing_files(tmp_path)


def test_check_files_lists_missing_and_how_to_get_them(tmp_path: Path) -> None:
    _touch_required("synclr", tmp_path)
    with pytest.raises(DataError) as err:
        check_files(parse_backbones("synclr,aligned_dino"), tmp_path)
    message = str(err.value)
    assert "aligned_dino: dino_vitb16_pretrain.pth" in message
    assert "checkpoints/dino_vitbase16_pretrain.pth" in message
    assert "synclr:" not in message.replace("aligned_", "")
    assert "study download-models --backbones aligned_dino" in message


def test_parse_backbones() -> None:
    assert [b.name for b in parse_backbones("synclr, aligned_synclr,synclr")] == [
        "synclr",
        "aligned_synclr",
    ]
    assert len(parse_backbones("all")) == 12
    with pytest.raises(ConfigError, match="unknown backbone 'synclr_b'"):
        parse_backbones("synclr_b")


def test_embed_list_prints_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["embed", "--list"]) == 0
    out = capsys.readouterr().out
    assert "aligned_ensemble" in out and "dim 1792" in out
    assert "facebookresearch_dinov2_main/hubconf.py" in out


def test_embed_missing_weights_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    argv = ["embed", "--data", str(tmp_path), "--backbones", "aligned_synclr"]
    assert main([*argv, "--models-dir", str(models)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: ") and "synclr_vit_b_16.pth" in err
    assert "study download-models" in err


def test_download_models_offline_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def blocked(*args: object) -> None:
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    argv = ["download-models", "--backbones", "clip", "--models-dir", str(tmp_path / "m")]
    assert main(argv) == 2
    *logged, err = capsys.readouterr().err.strip().splitlines()
    assert logged == [f"clip_vitb32: fetching into {tmp_path / 'm'}"]  # progress, logged
    assert err.startswith("error: ") and "cannot download clip_vitb32" in err
