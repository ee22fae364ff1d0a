"""Random-weight DreamSim models saved in the exact dreamsim cache layout (no download needed).

``write_random_models(models_dir, dreamsim_type)`` writes every file dreamsim's own loader reads
for that type (``dreamsim.model.dreamsim`` / ``PerceptualModel`` / ``ViTExtractor``):

- the backbone checkpoint in the format of the release (SynCLR ``{"model": {"module.visual.*"}}``,
  CLIP / OpenCLIP "as DINO" ``{"state_dict": {..., "proj"}}``, the DINO student head
  ``{"student": {"module.head.*"}}``), built from dreamsim's own ``vit_base`` with random weights;
- the LoRA adapter folder (``<type>_single_lora`` or ``ensemble_lora``) saved by peft, with
  random non-zero LoRA weights so that aligned and unaligned features differ;
- for DINO, the torch.hub folder ``facebookresearch_dino_main`` and the backbone checkpoint
  ``checkpoints/dino_vitbase16_pretrain.pth`` that ``torch.hub.load('facebookresearch/dino:main',
  'dino_vitb16')`` reads. The real hub folder is a git archive of the DINO repository, which
  cannot be downloaded here; the stand-in ``hubconf.py`` written instead exposes the same entry
  point with the same behaviour (a ViT-B/16 with ``num_classes=0`` whose state dict is loaded
  strictly from ``load_state_dict_from_url`` of the official checkpoint URL, which torch.hub
  resolves to the cached file), building the network from dreamsim's vendored copy of DINO's
  ``vision_transformer``.

DINOv2 is not covered: its hub entry point builds DINOv2's own ViT (layer scale, register
tokens, its own state-dict layout) from the DINOv2 repository, which no installed package provides.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

SUPPORTED_TYPES = ("synclr_vitb16", "dino_vitb16", "clip_vitb32", "open_clip_vitb32", "ensemble")
DINO_HUB_DIR = "facebookresearch_dino_main"
DINO_HUB_CHECKPOINT = "checkpoints/dino_vitbase16_pretrain.pth"
DINO_URL = "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth"
LORA = {"r": 16, "lora_alpha": 0.5, "lora_dropout": 0.3, "bias": "none", "target_modules": ["qkv"]}

HUBCONF = f'''"""Offline stand-in for facebookresearch/dino's hubconf (test fixture)."""

import torch
from dreamsim.feature_extraction.vision_transformer import vit_base

dependencies = ["torch"]


def dino_vitb16(pretrained=True, **kwargs):
    model = vit_base(patch_size=16, num_classes=0, **kwargs)
    if pretrained:
        state_dict = torch.hub.load_state_dict_from_url(url="{DINO_URL}", map_location="cpu")
        model.load_state_dict(state_dict, strict=True)
    return model
'''


def _randomise(state: dict[str, torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Replace every tensor by seeded random values of the same shape (LayerNorm scales near 1)."""
    out = {}
    for key, value in state.items():
        noise = torch.randn(value.shape, generator=gen, dtype=torch.float32)
        is_norm_scale = key.endswith(".weight") and value.ndim == 1
        out[key] = 1.0 + 0.1 * noise if is_norm_scale else 0.02 * noise
    return out


def _vit_state(patch_size: int, gen: torch.Generator, clip_style: bool) -> dict[str, torch.Tensor]:
    from dreamsim.feature_extraction.vision_transformer import vit_base

    vit = vit_base(patch_size=patch_size)
    if clip_style:
        vit.pos_drop = torch.nn.LayerNorm(vit.embed_dim)
    return _randomise(vit.state_dict(), gen)


def _write_backbone(models_dir: Path, model_type: str, gen: torch.Generator) -> None:
    """Write the checkpoint(s) ``ViTExtractor.create_model(model_type, models_dir)`` loads."""
    if model_type == "synclr_vitb16":
        state = {f"module.visual.{k}": v for k, v in _vit_state(16, gen, False).items()}
        torch.save({"model": state}, models_dir / "synclr_vit_b_16.pth")
    elif model_type in ("clip_vitb16", "clip_vitb32", "open_clip_vitb16", "open_clip_vitb32"):
        patch = int(model_type[-2:])
        state = _vit_state(patch, gen, True)
        state["proj"] = 0.02 * torch.randn(768, 512, generator=gen)
        torch.save({"state_dict": state}, models_dir / f"{model_type}_pretrain.pth.tar")
    elif model_type == "dino_vitb16":
        from dreamsim.feature_extraction.vision_transformer import DINOHead

        head = DINOHead(768, 2048)
        state = {k: v for k, v in head.state_dict().items() if not k.startswith("last_layer.")}
        state["last_layer.weight"] = head.last_layer.weight.detach()
        student = {f"module.head.{k}": v for k, v in _randomise(state, gen).items()}
        torch.save({"student": student}, models_dir / "dino_vitb16_pretrain.pth")
        hub = models_dir / DINO_HUB_DIR
        hub.mkdir(parents=True, exist_ok=True)
        (hub / "hubconf.py").write_text(HUBCONF)
        ckpt = models_dir / DINO_HUB_CHECKPOINT
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save(_vit_state(16, gen, False), ckpt)
    else:
        raise ValueError(f"no random-weight fixture for backbone {model_type}")


def _write_lora(models_dir: Path, dreamsim_type: str, gen: torch.Generator) -> None:
    """Save a peft LoRA adapter with random non-zero weights where dreamsim() looks for it."""
    from dreamsim.config import dreamsim_args
    from dreamsim.model import PerceptualModel
    from peft import LoraConfig, get_peft_model

    config = dreamsim_args["model_config"][dreamsim_type]
    base = PerceptualModel(**config, device="cpu", load_dir=str(models_dir), normalize_embeds=False)
    peft_model = get_peft_model(base, LoraConfig(**LORA))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(0.05 * torch.randn(param.shape, generator=gen))
    tag = "ensemble" if dreamsim_type == "ensemble" else f"{dreamsim_type}_single"
    out = models_dir / f"{tag}_lora"
    peft_model.save_pretrained(str(out))
    saved = json.loads((out / "adapter_config.json").read_text())
    missing = [k for k in LORA if k not in saved]
    if missing:
        raise RuntimeError(f"peft adapter_config.json lacks {missing}, which dreamsim reads")


def write_random_models(models_dir: Path, dreamsim_type: str, seed: int = 0) -> Path:
    """Write random-weight files for ``dreamsim_type`` into ``models_dir``; returns models_dir."""
    from dreamsim.config import dreamsim_args

    if dreamsim_type not in SUPPORTED_TYPES:
        raise ValueError(f"no random-weight fixture for {dreamsim_type}; have {SUPPORTED_TYPES}")
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for model_type in dreamsim_args["model_config"][dreamsim_type]["model_type"].split(","):
        _write_backbone(models_dir, model_type, gen)
    _write_lora(models_dir, dreamsim_type, gen)
    return models_dir


def shared_random_models(base: Path, dreamsim_types: tuple[str, ...]) -> Path:
    """``base/dreamsim_models`` holding random weights for the given types, built once per base."""
    models_dir = Path(base) / "dreamsim_models"
    for dreamsim_type in dreamsim_types:
        done = models_dir / f".fixture-{dreamsim_type}"
        if not done.is_file():
            write_random_models(models_dir, dreamsim_type)
            done.touch()
    return models_dir
