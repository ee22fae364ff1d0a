"""TrainConfig: every knob of one training run, as a typed dataclass that round-trips YAML/JSON.

Defaults are the seed recipe (docs/trial-internals.md). ``batch_size`` defaults to 256, the
batch the seed recipe was run (and its lr 8e-3 chosen) with; NICE itself used 1000 - set
``batch_size=1000`` for that.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from trainables.common.errors import ConfigError

MODEL_CHOICES = ("auto", "nice", "nice_100hz")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
_CHOICES = {"model": MODEL_CHOICES, "device": DEVICE_CHOICES}
_TRUE = {"true", "1", "yes", "on"}
INT64_MAX = 2**63 - 1
MIN_TEMPERATURE = 0.01  # = 1 / exp(trainables.models.loss.MAX_LOGIT_SCALE)
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one trial; ``model="auto"`` follows the data's sampling rate."""

    model: str = "auto"
    epochs: int = 100
    batch_size: int = 256
    lr_encoder: float = 8e-3
    lr_projector: float = 8e-3
    min_lr_encoder: float = 1e-4
    min_lr_projector: float = 1e-4
    warmup_encoder: int = 4
    warmup_projector: int = 2
    warmup_start_factor: float = 0.1
    latent_dim: int = 256
    dropout: float = 0.5
    weight_decay: float = 0.0
    temperature_init: float = 0.07
    seed: int = 0
    checkpoint_every: int = 10
    device: str = "auto"
    compile: bool = False
    bf16: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = _FIELD_TYPES[f.name]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, _as_float(f.name, value))
            elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{f.name} must be {expected.__name__}, got {value!r}")
        self._validate()

    def _validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
            if _FIELD_TYPES[f.name] is int and abs(value) > INT64_MAX:
                raise ConfigError(f"{f.name} must be within +-{INT64_MAX} (int64), got {value}")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )
        positive = ("epochs", "batch_size", "latent_dim", "checkpoint_every", "temperature_init")
        positive += ("lr_encoder", "lr_projector", "min_lr_encoder", "min_lr_projector")
        for name in positive:
            value = getattr(self, name)
            if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        for name in ("warmup_encoder", "warmup_projector", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.batch_size < 2:
            raise ConfigError(f"batch_size must be >= 2 (contrastive loss), got {self.batch_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.warmup_start_factor <= 1.0:
            raise ConfigError(
                f"warmup_start_factor must be in (0, 1], got {self.warmup_start_factor!r}"
            )
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.temperature_init < MIN_TEMPERATURE:
            raise ConfigError(
                f"temperature_init must be >= {MIN_TEMPERATURE} (the logit scale 1/temperature "
                f"is clamped at {1 / MIN_TEMPERATURE:g}), got {self.temperature_init!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys are a ConfigError."""
        if not isinstance(values, dict):
            raise ConfigError(f"a training config must be a mapping, got {type(values).__name__}")
        unknown = sorted(set(values) - set(_FIELD_TYPES))
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        return cls(**values)

    def with_overrides(self, overrides: list[str]) -> TrainConfig:
        """Apply ``key=value`` strings, coercing each value to the field's type."""
        values = self.to_dict()
        for item in overrides:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"override {item!r} is not key=value")
            if key not in _FIELD_TYPES:
                raise ConfigError(f"unknown config key {key!r} in override {item!r}")
            values[key] = coerce(key, raw.strip())
        return TrainConfig.from_dict(values)

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
        return cls.from_dict(values or {})


_FIELD_TYPES: dict[str, type] = {
    f.name: {"str": str, "int": int, "float": float, "bool": bool}[str(f.type)]
    for f in fields(TrainConfig)
}


def coerce(key: str, raw: str) -> Any:
    """Convert the text of an override to the type of field ``key``."""
    expected = _FIELD_TYPES[key]
    if expected is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    if expected is str:
        return raw
    try:
        return expected(raw)
    except ValueError:
        raise ConfigError(f"{key} must be {expected.__name__}, got {raw!r}") from None


def _as_float(name: str, value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ConfigError(f"{name} must be a finite number, got {value}") from None


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def dump_text(values: dict[str, Any], path: Path) -> str:
    """Serialise ``values`` as YAML or JSON, chosen by ``path``'s suffix."""
    if _is_yaml(path):
        return yaml.safe_dump(values, sort_keys=False)
    return json.dumps(values, indent=2) + "\n"
