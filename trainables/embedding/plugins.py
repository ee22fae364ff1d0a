"""Backbones from open_clip, timm, torchvision and TorchScript files, loaded offline.

Each entry names its library's model and one local weight file (relative to the models folder
unless absolute). The library builds the model and loads that file itself; nothing downloads.
Preprocessing is the library's own for the model (open_clip's transform for the architecture and
pretrained tag, timm's data config, the torchvision weights' ``transforms()``) unless a named
preset is given (required for TorchScript and for torchvision without ``weights``).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trainables.common.errors import ConfigError, DataError
from trainables.common.validation import STRICT
from trainables.embedding.alignment import file_sha256
from trainables.embedding.preprocessing import PRESETS, describe, preset

LIBRARIES = {"open_clip": "open_clip_torch", "timm": "timm", "torchvision": "torchvision"}


@dataclass(frozen=True)
class OpenClipEntry:
    """``open_clip.create_model_and_transforms(architecture, pretrained=FILE)``; ``encode_image``.

    ``pretrained`` is the tag the file was published under: its preprocessing (mean, std,
    resize mode) and QuickGELU setting are applied as open_clip applies them for that tag.
    """

    __pydantic_config__ = STRICT
    kind: Literal["open_clip"]
    architecture: str
    pretrained: str | None = None
    file: str | None = None
    preprocessing: str | None = None

    def default_file(self) -> str:
        return f"open_clip/{self.architecture}/{self.pretrained or 'custom'}/open_clip_model.bin"


@dataclass(frozen=True)
class TimmEntry:
    """``timm.create_model(model, num_classes=0)`` with FILE as its pretrained weights."""

    __pydantic_config__ = STRICT
    kind: Literal["timm"]
    model: str
    file: str | None = None
    preprocessing: str | None = None

    def default_file(self) -> str:
        return f"timm/{self.model}/model.safetensors"


@dataclass(frozen=True)
class TorchvisionEntry:
    """``torchvision.models.get_model(model)`` with FILE's state dict; the last Linear removed
    (``output: features``) or kept (``logits``)."""

    __pydantic_config__ = STRICT
    kind: Literal["torchvision"]
    model: str
    weights: str | None = None  # e.g. ResNet50_Weights.IMAGENET2K_V2: gives the preprocessing
    file: str | None = None
    preprocessing: str | None = None
    output: Literal["features", "logits"] = "features"

    def default_file(self) -> str:
        return f"torchvision/{self.model}/{self.weights or 'weights'}.pth"


@dataclass(frozen=True)
class TorchScriptEntry:
    """``torch.jit.load(FILE)``; its forward is the embedding."""

    __pydantic_config__ = STRICT
    kind: Literal["torchscript"]
    file: str
    preprocessing: str

    def default_file(self) -> str:
        return self.file


PluginEntry = OpenClipEntry | TimmEntry | TorchvisionEntry | TorchScriptEntry

# Built-in entries (used like DreamSim's names; their files come from `study download-models`).
REGISTRY: dict[str, PluginEntry] = {
    "openclip_vitb32_laion2b": OpenClipEntry("open_clip", "ViT-B-32", "laion2b_s34b_b79k"),
    "openclip_vitl14_laion2b": OpenClipEntry("open_clip", "ViT-L-14", "laion2b_s32b_b82k"),
    "clip_vitl14_openai": OpenClipEntry("open_clip", "ViT-L-14", "openai"),
}


@dataclass
class LoadedModel:
    """A model ready to embed: ``embed(batch) -> (n, dim)`` and its per-image preprocessing."""

    embed: Callable[[Any], Any]
    preprocess: Callable[[Any], Any]
    preprocessing: str


@dataclass(frozen=True)
class PluginBackbone:
    """A named plug-in backbone (from a backbones file or ``REGISTRY``)."""

    name: str
    entry: PluginEntry
    dim: int | None = None  # known once loaded

    @property
    def kind(self) -> str:
        return self.entry.kind

    def weights_file(self) -> str:
        return self.entry.file or self.entry.default_file()

    @property
    def call(self) -> str:
        e, f = self.entry, "FILE"
        if isinstance(e, OpenClipEntry):
            return (
                f"open_clip.create_model_and_transforms({e.architecture!r}, pretrained={f}, "
                f"tag={e.pretrained!r}).encode_image(x)"
            )
        if isinstance(e, TimmEntry):
            return f"timm.create_model({e.model!r}, num_classes=0, file={f})(x)"
        if isinstance(e, TorchvisionEntry):
            return f"torchvision.models.get_model({e.model!r}) <- {f}, output={e.output}"
        return f"torch.jit.load({f})(x)"

    def required_files(self) -> list[str]:
        return [self.weights_file()]

    def missing_files(self, models_dir: Path) -> list[str]:
        return [f for f in self.required_files() if not (Path(models_dir) / f).is_file()]

    def empty_files(self, models_dir: Path) -> list[Path]:
        paths = [Path(models_dir) / f for f in self.required_files()]
        return [p for p in paths if p.is_file() and p.stat().st_size == 0]

    def source(self, models_dir: Path) -> dict[str, Any]:
        """Provenance for the store manifest: library, version, call, weight file and hash."""
        from importlib.metadata import version

        import torch

        path = Path(models_dir) / self.weights_file()
        package = LIBRARIES.get(self.kind, "torch")
        return {
            "package": package,
            "version": version(package) if package != "torch" else torch.__version__,
            "kind": self.kind,
            "entry": {k: v for k, v in vars(self.entry).items() if v is not None},
            "call": self.call,
            "weights": str(path.resolve()),
            "weights_sha256": file_sha256(path),
        }

    def load(self, models_dir: Path, device: str) -> LoadedModel:
        """Build the model from the local weight file (offline); one-line DataError if broken."""
        path = Path(models_dir) / self.weights_file()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter):
                embed, transform = LOADERS[self.kind](self.entry, path, device)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - every library raises its own types
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise DataError(
                f"{path}: cannot load weights of backbone '{self.name}' "
                f"({type(exc).__name__}: {first[:300]})"
            ) from exc
        if self.entry.preprocessing is not None:
            transform = preset(self.entry.preprocessing)
        text = f"PIL .convert('RGB'); {self.kind}: {describe(transform)}"
        return LoadedModel(embed, transform, text)


def _open_clip(entry: OpenClipEntry, path: Path, device: str) -> tuple[Any, Any]:
    import open_clip

    if entry.architecture not in open_clip.list_models():
        raise ConfigError(f"open_clip has no architecture {entry.architecture[:60]!r}")
    tag: dict[str, Any] = {}
    if entry.pretrained is not None:
        tag = open_clip.get_pretrained_cfg(entry.architecture, entry.pretrained)
        if not tag:
            known = ", ".join(open_clip.list_pretrained_tags_by_model(entry.architecture))
            raise ConfigError(
                f"open_clip has no pretrained tag {entry.pretrained[:60]!r} for "
                f"{entry.architecture} (known: {known or 'none'})"
            )
    # what create_model applies for a tag it downloads itself: the tag's preprocessing, QuickGELU
    model, _, preprocess = open_clip.create_model_and_transforms(
        entry.architecture,
        pretrained=str(path),
        device=device,
        force_quick_gelu=bool(tag.get("quick_gelu", False)),
        image_mean=tag.get("mean"),
        image_std=tag.get("std"),
        image_interpolation=tag.get("interpolation"),
        image_resize_mode=tag.get("resize_mode"),
    )
    model = model.eval().requires_grad_(False)
    return model.encode_image, preprocess


def _timm(entry: TimmEntry, path: Path, device: str) -> tuple[Any, Any]:
    import timm
    from timm.data import create_transform, resolve_model_data_config

    if ":" in entry.model:
        raise ConfigError(f"timm model {entry.model!r}: give a timm name, not a hub address")
    try:
        model = timm.create_model(
            entry.model,
            pretrained=True,
            pretrained_cfg_overlay={"file": str(path), "source": ""},
            num_classes=0,
        )
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise ConfigError(f"timm has no model {entry.model[:60]!r}") from None
        raise
    model = model.to(device).eval().requires_grad_(False)
    return model, create_transform(**resolve_model_data_config(model), is_training=False)


def _torchvision(entry: TorchvisionEntry, path: Path, device: str) -> tuple[Any, Any]:
    import torch
    from torchvision import models

    if entry.model not in models.list_models():
        raise ConfigError(f"torchvision has no model {entry.model[:60]!r}")
    model = models.get_model(entry.model, weights=None)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(_unwrap_state_dict(state))
    if entry.output == "features":
        _drop_last_linear(model)
    model = model.to(device).eval().requires_grad_(False)
    if entry.weights is not None:
        try:
            transform = models.get_weight(entry.weights).transforms()
        except (ValueError, KeyError, AttributeError):
            raise ConfigError(f"torchvision has no weights {entry.weights[:60]!r}") from None
    elif entry.preprocessing is None:
        raise ConfigError(f"torchvision model {entry.model}: give weights or preprocessing")
    else:
        transform = preset(entry.preprocessing)
    return model, transform


def _torchscript(entry: TorchScriptEntry, path: Path, device: str) -> tuple[Any, Any]:
    import torch

    model = torch.jit.load(str(path), map_location=device).eval()
    return model, preset(entry.preprocessing)


LOADERS: dict[str, Callable[[Any, Path, str], tuple[Any, Any]]] = {
    "open_clip": _open_clip,
    "timm": _timm,
    "torchvision": _torchvision,
    "torchscript": _torchscript,
}


def _unwrap_state_dict(state: Any) -> dict[str, Any]:
    """A checkpoint's state dict: under ``state_dict`` or ``model`` if nested, ``module.`` off."""
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict, found {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _drop_last_linear(model: Any) -> None:
    """Replace the model's last ``nn.Linear`` (its classifier) by an identity."""
    import torch

    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError("no Linear layer to remove; use output: logits")
    parent_name, _, child = linears[-1].rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, torch.nn.Identity())


def check_preprocessing(name: str, entry: PluginEntry, source: str) -> None:
    """Refuse an unknown preset name before any model loads."""
    if entry.preprocessing is not None and entry.preprocessing not in PRESETS:
        raise ConfigError(
            f"{source}: backbone '{name}': unknown preprocessing {entry.preprocessing[:40]!r}; "
            f"known: {', '.join(PRESETS)}"
        )
