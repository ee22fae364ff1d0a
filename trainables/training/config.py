"""TrainConfig: every knob of one training run, as a typed dataclass that round-trips YAML/JSON.

Defaults are the seed recipe (docs/trial-internals.md). ``batch_size`` defaults to 256, the
batch the seed recipe was run (and its lr 8e-3 chosen) with; NICE itself used 1000 - set
``batch_size=1000`` for that.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass

from trainables.common.errors import ConfigError
from trainables.common.validation import STRICT, validated
from trainables.models.settings import (
    ENCODER_NAMES,
    SECTIONS,
    ATCNetSettings,
    AtmsSettings,
    ConformerSettings,
    Deep4Settings,
    EEGNetSettings,
    ShallowSettings,
)

MODEL_CHOICES = ("auto", *ENCODER_NAMES)
DEVICE_CHOICES = ("auto", "cpu", "cuda")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
INT64_MAX = 2**63 - 1
MIN_TEMPERATURE = 0.01  # = 1 / exp(trainables.models.loss.MAX_LOGIT_SCALE)

PositiveInt = Annotated[int, Field(ge=1, le=INT64_MAX)]
NonNegativeInt = Annotated[int, Field(ge=0, le=INT64_MAX)]
PositiveFloat = Annotated[float, Field(gt=0.0)]


def _from_mapping(kind: type) -> Callable[[Any], Any]:
    """A validator that builds a ``kind`` section from a mapping, strictly, as JSON would."""

    def build(value: Any) -> Any:
        if isinstance(value, dict):
            return TypeAdapter(kind).validate_json(json.dumps(value, allow_nan=True))
        return value

    return build


def section_field(kind: type) -> Any:
    """The annotation of a field holding a ``kind`` section (given as instance or mapping)."""
    return Annotated[kind, BeforeValidator(_from_mapping(kind))]


AtmsSection = section_field(AtmsSettings)
EEGNetSection = section_field(EEGNetSettings)
ShallowSection = section_field(ShallowSettings)
Deep4Section = section_field(Deep4Settings)
ConformerSection = section_field(ConformerSettings)
ATCNetSection = section_field(ATCNetSettings)


@dataclass(frozen=True, config=ConfigDict(**STRICT))
class TrainConfig:
    """Hyperparameters of one trial; ``model="auto"`` follows the data's sampling rate.

    Constructing one validates every field (pydantic, strict); ``from_dict``, ``load`` and
    ``with_overrides`` turn a problem into a one-line ConfigError. Each non-NICE encoder's
    settings are a section named after it (``eegnet.feature_dim``); only the chosen encoder's
    section affects a run.
    """

    model: Literal[MODEL_CHOICES] = "auto"  # type: ignore[valid-type]
    epochs: PositiveInt = 100
    batch_size: Annotated[int, Field(ge=2, le=INT64_MAX)] = 256  # >= 2: contrastive loss
    lr_encoder: PositiveFloat = 8e-3
    lr_projector: PositiveFloat = 8e-3
    min_lr_encoder: PositiveFloat = 1e-4
    min_lr_projector: PositiveFloat = 1e-4
    warmup_encoder: NonNegativeInt = 4
    warmup_projector: NonNegativeInt = 2
    warmup_start_factor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    latent_dim: PositiveInt = 256
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.0
    temperature_init: Annotated[float, Field(ge=MIN_TEMPERATURE)] = 0.07
    seed: NonNegativeInt = 0
    checkpoint_every: PositiveInt = 10
    device: Literal[DEVICE_CHOICES] = "auto"  # type: ignore[valid-type]
    compile: bool = False
    bf16: bool = True
    atms: AtmsSection = AtmsSettings()  # type: ignore[valid-type]
    eegnet: EEGNetSection = EEGNetSettings()  # type: ignore[valid-type]
    shallow: ShallowSection = ShallowSettings()  # type: ignore[valid-type]
    deep4: Deep4Section = Deep4Settings()  # type: ignore[valid-type]
    conformer: ConformerSection = ConformerSettings()  # type: ignore[valid-type]
    atcnet: ATCNetSection = ATCNetSettings()  # type: ignore[valid-type]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_flat_dict(self) -> dict[str, Any]:
        """``to_dict`` with each section's settings as dotted keys (``eegnet.F1``): the form of
        Ray configs, whose search and variant generators address top-level keys."""
        flat: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if key in SECTIONS:
                flat.update({f"{key}.{name}": setting for name, setting in value.items()})
            else:
                flat[key] = value
        return flat

    def encoder_settings(self, encoder: str) -> dict[str, Any] | None:
        """The settings section of ``encoder`` (a resolved name) as a dict; None for NICE."""
        return dataclasses.asdict(getattr(self, encoder)) if encoder in SECTIONS else None

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "training config") -> TrainConfig:
        """Build from a mapping (sections nested, or as dotted keys); problems: ConfigError."""
        if not isinstance(values, dict):
            raise ConfigError(f"a training config must be a mapping, got {type(values).__name__}")
        return validated(cls, _nested(values), source)

    def with_overrides(self, overrides: list[str]) -> TrainConfig:
        """Apply ``key=value`` strings (``section.key=value`` for a section's setting)."""
        values = self.to_dict()
        for item in overrides:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"override {item!r} is not key=value")
            section, _, name = key.rpartition(".")
            target = values[section] if section in SECTIONS else values
            if section and section not in SECTIONS or name not in field_types(section):
                raise ConfigError(f"unknown config key {key!r} in override {item!r}")
            target[name] = coerce(key, raw.strip())
        return TrainConfig.from_dict(values, "")

    def save(self, path: Path) -> None:
        """Write as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
        Path(path).write_text(dump_text(self.to_dict(), Path(path)))

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        try:
            values = yaml.safe_load(text) if _is_yaml(path) else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"{path} is not valid {'YAML' if _is_yaml(path) else 'JSON'}"
            ) from exc
        return cls.from_dict(values or {}, str(path))


def train_values(values: dict[str, Any]) -> dict[str, Any]:
    """The TrainConfig entries of a trial's config (fields and dotted section keys); run keys
    such as ``backbone`` or ``subject`` left out."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in values.items() if k in names or k.partition(".")[0] in SECTIONS}


def _nested(values: dict[str, Any]) -> dict[str, Any]:
    """Dotted section keys (``eegnet.F1``, as search spaces and Ray configs write them) laid
    over the nested sections; ``values`` is not modified."""
    nested = {k: dict(v) if k in SECTIONS and isinstance(v, dict) else v for k, v in values.items()}
    for key, value in values.items():
        section, dot, name = key.partition(".") if isinstance(key, str) else ("", "", "")
        if dot and section in SECTIONS:
            del nested[key]
            if isinstance(nested.setdefault(section, {}), dict):
                nested[section][name] = value
    return nested


def field_types(section: str = "") -> dict[str, type]:
    """Field name -> plain type (Literal fields: str) of TrainConfig or of one section."""
    kind = SECTIONS[section] if section else TrainConfig
    hints = typing.get_type_hints(kind)
    return {name: _plain(hint) for name, hint in hints.items()}


def _plain(hint: Any) -> type:
    if typing.get_origin(hint) is Literal:
        return str
    return hint if isinstance(hint, type) else object


def coerce(key: str, raw: str) -> Any:
    """Convert the text of an override to the type of field ``key``."""
    section, _, name = key.rpartition(".")
    expected = field_types(section)[name]
    if expected is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    if expected is str:
        return raw
    if expected not in (int, float):
        raise ConfigError(f"{key} is a section; set its fields as {key}.NAME=VALUE")
    try:
        return expected(raw)
    except ValueError:
        raise ConfigError(f"{key} must be {expected.__name__}, got {raw!r}") from None


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def dump_text(values: dict[str, Any], path: Path) -> str:
    """Serialise ``values`` as YAML or JSON, chosen by ``path``'s suffix."""
    if _is_yaml(path):
        return yaml.safe_dump(values, sort_keys=False)
    return json.dumps(values, indent=2) + "\n"
