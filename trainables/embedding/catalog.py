"""Every backbone a name can mean: DreamSim's, plug-ins (a backbones file or the registry), and
``<base>+<transform>`` (a linear alignment transform of another backbone's embedding).

A backbones file (YAML)::

    backbones:
      vit_small:   {kind: timm, model: vit_small_patch16_224.augreg_in21k}
      my_net:      {kind: torchscript, file: mine/net.pt, preprocessing: imagenet}
    transforms:
      glocal:      {file: transforms/OpenCLIP_ViT-L-14_laion2b_s32b_b82k/transform.npz}

Files are relative to the models folder unless absolute. A transform not declared in the file is
looked for at ``transforms/<base>/<transform>.{npz,npy,pt}`` in the models folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field

from trainables.common.errors import ConfigError
from trainables.common.validation import STRICT, validated
from trainables.embedding.alignment import SUFFIXES
from trainables.embedding.backbones import BACKBONES, Backbone, Requirement, _options
from trainables.embedding.pairing import NAME_RE, TRANSFORM_SEPARATOR, split_transform
from trainables.embedding.plugins import (
    REGISTRY,
    OpenClipEntry,
    PluginBackbone,
    TimmEntry,
    TorchScriptEntry,
    TorchvisionEntry,
    check_preprocessing,
)

MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class TransformEntry:
    """A linear transform file; ``url`` is where `study download-models` fetches it from, and
    ``sha256`` (optional) pins its content."""

    __pydantic_config__ = STRICT
    file: str
    url: str | None = None
    sha256: str | None = None


@dataclass
class BackbonesFile:
    """The parsed backbones file."""

    __pydantic_config__ = STRICT
    backbones: dict[
        str,
        Annotated[
            OpenClipEntry | TimmEntry | TorchvisionEntry | TorchScriptEntry,
            Field(discriminator="kind"),
        ],
    ] = field(default_factory=dict)
    transforms: dict[str, TransformEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class TransformedBackbone:
    """``<base>+<transform>``: the base backbone's embedding through a linear transform."""

    name: str
    base: AnyBackbone
    transform: str
    entry: TransformEntry | None  # None: the default location in the models folder
    dim: int | None = None
    base_stored: bool = False  # the base's store is complete: its model files are not needed

    def transform_files(self) -> Requirement:
        if self.entry is not None:
            return self.entry.file
        return tuple(f"transforms/{self.base.name}/{self.transform}{s}" for s in SUFFIXES)

    def transform_path(self, models_dir: Path) -> Path:
        options = [Path(models_dir) / f for f in _options(self.transform_files())]
        return next((p for p in options if p.is_file()), options[0])

    @property
    def call(self) -> str:
        files = " | ".join(_options(self.transform_files()))
        return f"(({self.base.name} - mean) / std) @ weights + bias, from {files}"

    def required_files(self) -> list[Requirement]:
        return [*self.base.required_files(), self.transform_files()]

    def missing_files(self, models_dir: Path) -> list[str]:
        missing = [] if self.base_stored else list(self.base.missing_files(models_dir))
        options = _options(self.transform_files())
        if not any((Path(models_dir) / f).is_file() for f in options):
            missing.append(" | ".join(options))
        return missing

    def empty_files(self, models_dir: Path) -> list[Path]:
        path = self.transform_path(models_dir)
        own = [path] if path.is_file() and path.stat().st_size == 0 else []
        return own if self.base_stored else [*self.base.empty_files(models_dir), *own]


AnyBackbone = Backbone | PluginBackbone | TransformedBackbone


class Catalog:
    """Resolves backbone names against DreamSim's registry, plug-ins and transforms."""

    def __init__(
        self,
        plugins: dict[str, PluginBackbone],
        transforms: dict[str, TransformEntry],
        declared: tuple[str, ...] = (),
    ) -> None:
        self.plugins, self.transforms, self.declared = plugins, transforms, declared

    def get(self, name: str) -> AnyBackbone:
        base, transform = split_transform(name)
        if transform is not None:
            if not NAME_RE.match(transform):
                raise ConfigError(f"invalid transform name {transform[:60]!r} in {name[:80]!r}")
            return TransformedBackbone(
                name, self.get(base), transform, self.transforms.get(transform)
            )
        if name in BACKBONES:
            return BACKBONES[name]
        if name in self.plugins:
            return self.plugins[name]
        raise ConfigError(
            f"unknown backbone {name[:60]!r}; `study embed --list [--backbones-file FILE]` "
            "lists them (and <backbone>+<transform> applies a transform)"
        )

    def parse(self, text: str) -> list[AnyBackbone]:
        """Comma-separated names, in order, without duplicates; ``all``: DreamSim's twelve and
        the backbones file's (registry plug-ins are named one by one)."""
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            raise ConfigError("no backbone given; use e.g. --backbones aligned_synclr,synclr")
        if names == ["all"]:
            return [*BACKBONES.values(), *(self.plugins[n] for n in self.declared)]
        try:
            return [self.get(n) for n in dict.fromkeys(names)]
        except ConfigError as exc:
            raise ConfigError(f"--backbones: {exc}") from None

    def listing(self) -> list[AnyBackbone]:
        """Every base backbone, then every declared transform of each plug-in."""
        declared = [
            self.get(f"{b}{TRANSFORM_SEPARATOR}{t}") for b in self.plugins for t in self.transforms
        ]
        return [*BACKBONES.values(), *self.plugins.values(), *declared]


def _check_name(name: str, what: str, source: str) -> None:
    from trainables.models.settings import ENCODER_NAMES

    if not NAME_RE.match(name):
        raise ConfigError(
            f"{source}: {what} name {name[:60]!r} must be letters, digits, '_', '.', '-' "
            f"(no {TRANSFORM_SEPARATOR!r}), at most 64 characters"
        )
    if name in ENCODER_NAMES:
        raise ConfigError(f"{source}: {what} name {name!r} is an EEG encoder's name")


def read_backbones_file(path: Path) -> BackbonesFile:
    """Parse and validate a backbones file; every problem is a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: backbones file not found")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: backbones file larger than {MAX_FILE_BYTES} bytes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    parsed = validated(BackbonesFile, {} if raw is None else raw, str(path))
    for name, entry in parsed.backbones.items():
        _check_name(name, "backbone", str(path))
        if name in BACKBONES or name in REGISTRY:
            raise ConfigError(f"{path}: backbone {name!r} is a built-in name; choose another")
        check_preprocessing(name, entry, str(path))
    for name in parsed.transforms:
        _check_name(name, "transform", str(path))
    return parsed


def load_catalog(backbones_file: Path | None = None) -> Catalog:
    """The registry's plug-ins plus those (and the transforms) of ``backbones_file``."""
    plugins = {name: PluginBackbone(name, entry) for name, entry in REGISTRY.items()}
    if backbones_file is not None:
        parsed = read_backbones_file(backbones_file)
        plugins |= {name: PluginBackbone(name, e) for name, e in parsed.backbones.items()}
        return Catalog(plugins, dict(parsed.transforms), tuple(parsed.backbones))
    return Catalog(plugins, {})
