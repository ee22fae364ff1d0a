"""Image backbone registry: DreamSim-aligned and unaligned image encoders, loaded offline.

Every DreamSim type gives two backbones: ``aligned_<short>`` is
``dreamsim(pretrained=True, dreamsim_type=..., normalize_embeds=False)`` (the human-aligned LoRA
model) and ``<short>`` is ``PerceptualModel(**dreamsim_args['model_config'][type], baseline=True)``
(the same feature extractor without the LoRA), as in the paper's code. Both embed with ``.embed``.

The registry itself does not import ``dreamsim`` (slow); only ``load_backbone`` does.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from pickle import UnpicklingError
from typing import Any
from urllib.error import URLError

from trainables.common.errors import ConfigError, DataError

LORA_FILES = ("adapter_config.json", ("adapter_model.safetensors", "adapter_model.bin"))

# Files ViTExtractor.create_model(model_type, load_dir) reads, relative to load_dir. The DINO
# types go through torch.hub with hub dir = load_dir: the repository archive unpacked as
# <owner>_<repo>_<ref>/ and the backbone weights under checkpoints/.
EXTRACTOR_FILES: dict[str, tuple[str, ...]] = {
    "synclr_vitb16": ("synclr_vit_b_16.pth",),
    "dino_vitb16": (
        "dino_vitb16_pretrain.pth",
        "facebookresearch_dino_main/hubconf.py",
        "checkpoints/dino_vitbase16_pretrain.pth",
    ),
    "dinov2_vitb14": (
        "facebookresearch_dinov2_main/hubconf.py",
        "checkpoints/dinov2_vitb14_pretrain.pth",
    ),
    "clip_vitb16": ("clip_vitb16_pretrain.pth.tar",),
    "clip_vitb32": ("clip_vitb32_pretrain.pth.tar",),
    "open_clip_vitb16": ("open_clip_vitb16_pretrain.pth.tar",),
    "open_clip_vitb32": ("open_clip_vitb32_pretrain.pth.tar",),
}

Requirement = str | tuple[str, ...]  # a relative path, or alternatives of which one must exist


@dataclass(frozen=True)
class DreamSimType:
    """One entry of dreamsim's ``dreamsim_args['model_config']`` (mirrored; checked in tests)."""

    name: str
    model_type: str
    feat_type: str
    stride: str
    dim: int
    release_files: tuple[str, ...]  # what dreamsim's download_weights checks before downloading

    @property
    def lora_dir(self) -> str:
        return "ensemble_lora" if self.name == "ensemble" else f"{self.name}_single_lora"

    @property
    def model_config(self) -> dict[str, Any]:
        """The kwargs dreamsim passes to PerceptualModel for this type."""
        return {
            "feat_type": self.feat_type,
            "model_type": self.model_type,
            "stride": self.stride,
            "lora": True,
        }

    def extractor_files(self) -> list[str]:
        files: list[str] = []
        for model_type in self.model_type.split(","):
            files.extend(f for f in EXTRACTOR_FILES[model_type] if f not in files)
        return files


DREAMSIM_TYPES: dict[str, DreamSimType] = {
    t.name: t
    for t in (
        DreamSimType("synclr_vitb16", "synclr_vitb16", "cls", "16", 768, ("synclr_vit_b_16.pth",)),
        DreamSimType("dino_vitb16", "dino_vitb16", "cls", "16", 768, ("dino_vitb16_pretrain.pth",)),
        DreamSimType(
            "dinov2_vitb14", "dinov2_vitb14", "cls", "14", 768, ("dinov2_vitb14_pretrain.pth",)
        ),
        DreamSimType(
            "clip_vitb32", "clip_vitb32", "embedding", "32", 512, ("clip_vitb32_pretrain.pth.tar",)
        ),
        DreamSimType(
            "open_clip_vitb32",
            "open_clip_vitb32",
            "embedding",
            "32",
            512,
            ("open_clip_vitb32_pretrain.pth.tar",),
        ),
        DreamSimType(
            "ensemble",
            "dino_vitb16,clip_vitb16,open_clip_vitb16",
            "cls,embedding,embedding",
            "16,16,16",
            1792,
            (
                "dino_vitb16_pretrain.pth",
                "open_clip_vitb16_pretrain.pth.tar",
                "clip_vitb16_pretrain.pth.tar",
            ),
        ),
    )
}

SHORT_NAMES = {
    "synclr": "synclr_vitb16",
    "dino": "dino_vitb16",
    "dinov2": "dinov2_vitb14",
    "clip": "clip_vitb32",
    "open_clip": "open_clip_vitb32",
    "ensemble": "ensemble",
}


@dataclass(frozen=True)
class Backbone:
    """A named image encoder: a DreamSim type with (aligned) or without (unaligned) its LoRA."""

    name: str
    dreamsim_type: DreamSimType
    aligned: bool

    @property
    def dim(self) -> int:
        return self.dreamsim_type.dim

    @property
    def call(self) -> str:
        """The exact dreamsim call whose ``.embed`` produces this backbone's features."""
        t = self.dreamsim_type
        if self.aligned:
            return (
                f"dreamsim.dreamsim(pretrained=True, dreamsim_type='{t.name}', "
                "normalize_embeds=False, cache_dir=MODELS_DIR).embed(x)"
            )
        kwargs = ", ".join(f"{k}={v!r}" for k, v in t.model_config.items())
        return (
            f"dreamsim.PerceptualModel({kwargs}, baseline=True, normalize_embeds=False, "
            "load_dir=MODELS_DIR).embed(x)"
        )

    def required_files(self) -> list[Requirement]:
        """Files under the models folder this backbone loads (dreamsim cache layout)."""
        t = self.dreamsim_type
        files: list[Requirement] = list(t.extractor_files())
        if self.aligned:
            files.extend(f for f in t.release_files if f not in files)
            files.extend(
                f"{t.lora_dir}/{f}"
                if isinstance(f, str)
                else tuple(f"{t.lora_dir}/{alt}" for alt in f)
                for f in LORA_FILES
            )
        return files

    def missing_files(self, models_dir: Path) -> list[str]:
        """Required files absent from ``models_dir`` (alternatives shown as ``a | b``)."""
        missing = []
        for req in self.required_files():
            options = _options(req)
            if not any((Path(models_dir) / opt).is_file() for opt in options):
                missing.append(" | ".join(options))
        return missing

    def empty_files(self, models_dir: Path) -> list[Path]:
        """Required files present in ``models_dir`` but zero bytes long (interrupted copies)."""
        candidates = (Path(models_dir) / f for r in self.required_files() for f in _options(r))
        return [p for p in candidates if p.is_file() and p.stat().st_size == 0]

    def source(self) -> dict[str, Any]:
        """Provenance for the store manifest (no dreamsim import needed)."""
        from importlib.metadata import version

        return {
            "package": "dreamsim",
            "version": version("dreamsim"),
            "dreamsim_type": self.dreamsim_type.name,
            "aligned": self.aligned,
            "call": self.call,
        }


def _options(req: Requirement) -> tuple[str, ...]:
    return (req,) if isinstance(req, str) else req


BACKBONES: dict[str, Backbone] = {}
for _short, _type in SHORT_NAMES.items():
    BACKBONES[f"aligned_{_short}"] = Backbone(f"aligned_{_short}", DREAMSIM_TYPES[_type], True)
    BACKBONES[_short] = Backbone(_short, DREAMSIM_TYPES[_type], False)


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        known = ", ".join(BACKBONES)
        raise ConfigError(f"unknown backbone {name[:60]!r}; known: {known}") from None


def parse_backbones(text: str) -> list[Backbone]:
    """Comma-separated backbone names (or ``all``), in the given order, without duplicates."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("no backbone given; use e.g. --backbones aligned_synclr,synclr")
    if names == ["all"]:
        return list(BACKBONES.values())
    try:
        return [get_backbone(n) for n in dict.fromkeys(names)]
    except ConfigError as exc:
        raise ConfigError(f"--backbones: {exc}") from None


def check_files(
    backbones: Sequence[Any], models_dir: Path, backbones_file: Path | None = None
) -> None:
    """Raise DataError listing every missing weight file and how to obtain them.

    ``backbones``: anything with ``name``, ``missing_files`` and ``empty_files`` (every kind);
    ``backbones_file`` is named in the suggested `study download-models` command.
    """
    declared = f" --backbones-file {backbones_file}" if backbones_file is not None else ""
    missing = {b.name: m for b in backbones if (m := b.missing_files(models_dir))}
    if missing:
        problems = [f"{name}: {', '.join(files)}" for name, files in missing.items()]
        names = ",".join(missing)
        raise DataError(
            f"{models_dir}: missing model files ({'; '.join(problems)}); fetch them with "
            f"`study download-models --backbones {names}{declared} --models-dir {models_dir}` "
            "on a machine with internet access"
        )
    empty = [p for b in backbones for p in b.empty_files(models_dir)]
    if empty:
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise DataError(
            f"{empty[0]}: empty model file (0 bytes){more}; delete it and fetch it again with "
            f"`study download-models --backbones {','.join(b.name for b in backbones)}{declared}`"
        )


LOAD_ERRORS = (OSError, RuntimeError, KeyError, ValueError, EOFError, UnpicklingError)
"""What torch/dreamsim raise for a damaged, truncated or mismatched weight file."""


def _refuse_network(url: Any, *args: Any, **kwargs: Any) -> Any:
    raise URLError(f"network access disabled while loading local weights ({url})")


@contextlib.contextmanager
def offline_torch_hub() -> Iterator[None]:
    """Make torch.hub resolve repositories and checkpoints from its cache only, never the network.

    dreamsim calls ``torch.hub.load('facebookresearch/dinov2', ...)`` without a ref, which makes
    torch.hub probe github.com for the default branch before falling back to the cached folder.
    """
    import torch.hub

    saved_urlopen, saved_dir = torch.hub.urlopen, torch.hub.get_dir()
    torch.hub.urlopen = _refuse_network
    try:
        yield
    finally:
        torch.hub.urlopen = saved_urlopen
        torch.hub.set_dir(saved_dir)


def load_backbone(backbone: Backbone, models_dir: Path, device: str = "cpu") -> Any:
    """Build the backbone's dreamsim model from ``models_dir`` (offline); use its ``.embed``."""
    check_files([backbone], models_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    chatter = io.StringIO()
    with (
        offline_torch_hub(),
        contextlib.redirect_stdout(chatter),
        contextlib.redirect_stderr(chatter),
    ):
        from dreamsim import PerceptualModel, dreamsim
        from safetensors import SafetensorError

        t = backbone.dreamsim_type
        try:
            if backbone.aligned:
                model, _ = dreamsim(
                    pretrained=True,
                    device=device,
                    cache_dir=str(models_dir),
                    normalize_embeds=False,
                    dreamsim_type=t.name,
                )
            else:
                model = PerceptualModel(
                    **t.model_config,
                    device=device,
                    load_dir=str(models_dir),
                    normalize_embeds=False,
                    baseline=True,
                )
        except (*LOAD_ERRORS, SafetensorError) as exc:
            raise DataError(
                f"{models_dir}: cannot load weights of backbone '{backbone.name}' "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
    return model.eval().requires_grad_(False)
