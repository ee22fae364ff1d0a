"""Random-weight plug-in models saved in each library's real file format (no download needed).

- open_clip: ``open_clip.create_model(arch, pretrained=None)`` saved as a plain state dict with
  ``torch.save``, as open_clip's released ``open_clip_pytorch_model.bin`` files are;
- timm: ``timm.create_model(name)`` (random init, with its classifier) saved with safetensors'
  ``save_file`` as ``model.safetensors``, the file timm's Hugging Face releases hold;
- torchvision: ``get_model(name)`` state dict saved with ``torch.save`` (the ``.pth`` files of
  ``torchvision.models`` weights);
- TorchScript: the same torchvision model through ``torch.jit.script``, saved with ``.save``.

Each writer returns the model it saved (eval mode), for the library's own reference forward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

OPEN_CLIP_ARCH = "ViT-S-32"
TIMM_MODEL = "vit_tiny_patch16_224"
TORCHVISION_MODEL = "resnet18"
TORCHVISION_WEIGHTS = "ResNet18_Weights.IMAGENET1K_V1"


def _file(models_dir: Path, rel: str) -> Path:
    path = Path(models_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_open_clip(models_dir: Path, rel: str, seed: int = 0, arch: str = OPEN_CLIP_ARCH) -> Any:
    import open_clip

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None).eval()
    torch.save(model.state_dict(), _file(models_dir, rel))
    return model


def write_timm(models_dir: Path, rel: str, seed: int = 0) -> Any:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model(TIMM_MODEL, pretrained=False).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, _file(models_dir, rel))
    return model


def write_torchvision(models_dir: Path, rel: str, seed: int = 0) -> Any:
    from torchvision.models import get_model

    torch.manual_seed(seed)
    model = get_model(TORCHVISION_MODEL, weights=None).eval()
    torch.save(model.state_dict(), _file(models_dir, rel))
    return model


def write_torchscript(models_dir: Path, rel: str, seed: int = 0) -> Any:
    from torchvision.models import get_model

    torch.manual_seed(seed)
    model = get_model(TORCHVISION_MODEL, weights=None, num_classes=16).eval()
    torch.jit.script(model).save(str(_file(models_dir, rel)))
    return model
