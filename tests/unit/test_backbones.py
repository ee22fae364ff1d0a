"""Backbone registry: names, dims, files (against dreamsim: integration/test_dreamsim_package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.cli import main
from tests.helpers.model_files import touch_required
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.backbones import (
    BACKBONES,
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


def test_registry_has_aligned_and_unaligned_pairs_with_dims() -> None:
    assert len(BACKBONES) == 12
    for short, dim in EXPECTED_DIMS.items():
        aligned, base = BACKBONES[f"aligned_{short}"], BACKBONES[short]
        assert aligned.aligned and not base.aligned
        assert aligned.dreamsim_type is base.dreamsim_type
        assert aligned.dim == base.dim == dim
        assert "baseline=True" in base.call and "pretrained=True" in aligned.call


def test_lora_weights_accept_either_format(tmp_path: Path) -> None:
    backbone = get_backbone("aligned_clip")
    touch_required("aligned_clip", tmp_path)
    assert backbone.missing_files(tmp_path) == []
    (tmp_path / "clip_vitb32_single_lora/adapter_model.safetensors").unlink()
    assert backbone.missing_files(tmp_path) == [
        "clip_vitb32_single_lora/adapter_model.safetensors | "
        "clip_vitb32_single_lora/adapter_model.bin"
    ]
    (tmp_path / "clip_vitb32_single_lora/adapter_model.bin").touch()
    assert backbone.missing_files(tmp_path) == []


def test_unaligned_needs_no_lora(tmp_path: Path) -> None:
    touch_required("dino", tmp_path)
    assert get_backbone("dino").missing_files(tmp_path) == []
    assert "dino_vitb16_single_lora/adapter_config.json" in get_backbone(
        "aligned_dino"
    ).missing_files(tmp_path)


def test_check_files_lists_missing_and_how_to_get_them(tmp_path: Path) -> None:
    touch_required("synclr", tmp_path)
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
