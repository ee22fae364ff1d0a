"""Named image preprocessings (PIL image -> float tensor) and their text for store manifests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainables.common.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

PRESETS: dict[str, str] = {
    "dreamsim": "Resize((224, 224), bicubic); ToTensor (dreamsim's preprocess; no Normalize)",
    "imagenet": "Resize(256, bilinear); CenterCrop(224); ToTensor; Normalize(ImageNet mean/std)",
    "clip": "Resize(224, bicubic); CenterCrop(224); ToTensor; Normalize(OpenAI CLIP mean/std)",
}


def preset(name: str) -> Callable[[Any], Any]:
    """The torchvision transform of a named preset (see ``PRESETS``)."""
    from torchvision import transforms as T

    bicubic, bilinear = T.InterpolationMode.BICUBIC, T.InterpolationMode.BILINEAR
    if name == "dreamsim":
        return T.Compose([T.Resize((224, 224), interpolation=bicubic), T.ToTensor()])
    if name == "imagenet":
        steps = [T.Resize(256, interpolation=bilinear), T.CenterCrop(224)]
        return T.Compose([*steps, T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    if name == "clip":
        steps = [T.Resize(224, interpolation=bicubic), T.CenterCrop(224)]
        return T.Compose([*steps, T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)])
    raise ConfigError(f"unknown preprocessing {name[:40]!r}; known: {', '.join(PRESETS)}")


def describe(transform: Any) -> str:
    """A stable one-line text of a transform (functions by name, no memory addresses)."""
    steps = getattr(transform, "transforms", None)
    if isinstance(steps, list | tuple):
        return "; ".join(describe(step) for step in steps)
    if callable(transform) and hasattr(transform, "__qualname__"):
        return f"{getattr(transform, '__module__', '')}.{transform.__qualname__}".lstrip(".")
    return " ".join(repr(transform).split())
