"""Typed search-space specs: one distribution per tunable training field, validated up front."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml

from trainables.common.atomic import atomic_write
from trainables.common.errors import ConfigError

Number = int | float
Scalar = int | float | str | bool


@dataclass(frozen=True)
class FieldRule:
    """The value type and legal range of one tunable training-config field."""

    kind: type[int] | type[float]
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """The legal range as interval notation, e.g. ``(0, inf)``."""
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"

    def admits(self, value: Number) -> bool:
        """Whether ``value`` lies in the legal range."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


# The TrainConfig fields a search space may tune (names and defaults are TrainConfig's).
TUNABLE_FIELDS: dict[str, FieldRule] = {
    "lr_encoder": FieldRule(float, 0.0, low_open=True),
    "lr_projector": FieldRule(float, 0.0, low_open=True),
    "min_lr_encoder": FieldRule(float, 0.0, low_open=True),
    "min_lr_projector": FieldRule(float, 0.0, low_open=True),
    "warmup_encoder": FieldRule(int, 0),
    "warmup_projector": FieldRule(int, 0),
    "latent_dim": FieldRule(int, 1),
    "dropout": FieldRule(float, 0.0, 1.0, high_open=True),
    "weight_decay": FieldRule(float, 0.0),
    "temperature_init": FieldRule(float, 0.01),  # exp(logit scale) is clamped at 100
    "batch_size": FieldRule(int, 2),  # the contrastive loss needs two pairs
    "epochs": FieldRule(int, 1),
}


def _number(value: Any, where: str, what: str, *, integer: bool = False) -> Number:
    """``value`` as an int (``integer``) or float; numeric strings such as "1e-3" are accepted."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {what} must be a number, got {value!r}")
    if integer:
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: {what} must be an integer, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{where}: {what} must be a number, got {value!r}") from None
    else:
        raise ConfigError(f"{where}: {what} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise ConfigError(f"{where}: {what} must be finite, got {value!r}")
    return number


def _check_keys(data: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")


def _rule(name: str, where: str) -> FieldRule:
    rule = TUNABLE_FIELDS.get(name) or section_rule(name)
    if rule is None:
        raise ConfigError(
            f"{where}: unknown parameter {name!r} (tunable: {', '.join(sorted(TUNABLE_FIELDS))}, "
            "or <encoder>.<setting> of an encoder's settings section)"
        )
    return rule


def section_rule(name: str) -> FieldRule | None:
    """The rule of ``<encoder>.<setting>``, a number in an encoder's settings section (its
    type and bounds are the section's); None when ``name`` is not one."""
    from trainables.models.settings import SECTIONS

    section, dot, setting = name.partition(".")
    info = SECTIONS[section].__pydantic_fields__.get(setting) if section in SECTIONS else None
    if not dot or info is None or info.annotation not in (int, float):
        return None
    bounds: dict[str, Any] = {}
    for limit in info.metadata:
        for attr, side, is_open in (("ge", "low", False), ("gt", "low", True),
                                    ("le", "high", False), ("lt", "high", True)):  # fmt: skip
            if hasattr(limit, attr):
                bounds[side], bounds[f"{side}_open"] = float(getattr(limit, attr)), is_open
    return FieldRule(info.annotation, **bounds)


def section_of(name: str) -> str | None:
    """The encoder whose settings section parameter ``name`` belongs to (None: a shared one)."""
    return name.partition(".")[0] if section_rule(name) is not None else None


def _check_value(name: str, value: Number, where: str, what: str) -> None:
    rule = _rule(name, where)
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {what} must be finite, got {value!r}")
    if not rule.admits(value):
        raise ConfigError(f"{where}: {what} {value!r} is outside {name}'s range {rule.describe()}")


def _check_bounds(name: str, low: Number, high: Number, where: str) -> None:
    if low > high:
        raise ConfigError(f"{where}: low {low!r} > high {high!r}")
    _check_value(name, low, where, "low")
    _check_value(name, high, where, "high")


@dataclass(frozen=True)
class _FloatRange:
    """A float between ``low`` and ``high``; subclasses say how it is sampled."""

    low: float
    high: float
    type_name: ClassVar[str]

    def validate(self, name: str, where: str) -> None:
        """Raise ConfigError unless this is a legal distribution for field ``name``."""
        if _rule(name, where).kind is not float:
            raise ConfigError(f"{where}: {name} is an integer field; use type int or categorical")
        self._check_domain(where)
        _check_bounds(name, self.low, self.high, where)

    def _check_domain(self, where: str) -> None:
        """Bounds the sampling itself needs (none for a plain uniform)."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Self:
        _check_keys(data, {"type", "low", "high"}, {"low", "high"}, where)
        return cls(_number(data["low"], where, "low"), _number(data["high"], where, "high"))


@dataclass(frozen=True)
class LogUniform(_FloatRange):
    """A float sampled uniformly in log space between ``low`` and ``high`` (both > 0)."""

    type_name: ClassVar[str] = "loguniform"

    def _check_domain(self, where: str) -> None:
        if self.low <= 0 or self.high <= 0:
            raise ConfigError(
                f"{where}: log-uniform bounds must be > 0, got low {self.low!r}, high {self.high!r}"
            )


@dataclass(frozen=True)
class Uniform(_FloatRange):
    """A float sampled uniformly between ``low`` and ``high``."""

    type_name: ClassVar[str] = "uniform"


@dataclass(frozen=True)
class IntRange:
    """An integer from ``low`` to ``high`` inclusive, in steps of ``step`` (or log-spaced)."""

    low: int
    high: int
    step: int = 1
    log: bool = False
    type_name: ClassVar[str] = "int"

    def validate(self, name: str, where: str) -> None:
        """Raise ConfigError unless this is a legal distribution for field ``name``."""
        if _rule(name, where).kind is not int:
            raise ConfigError(f"{where}: {name} is a float field; use loguniform or uniform")
        if self.step < 1:
            raise ConfigError(f"{where}: step must be >= 1, got {self.step!r}")
        if self.log and self.step != 1:
            raise ConfigError(f"{where}: log=true needs step 1, got step {self.step!r}")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: log=true needs low > 0, got {self.low!r}")
        _check_bounds(name, self.low, self.high, where)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name, "low": self.low, "high": self.high}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> IntRange:
        _check_keys(data, {"type", "low", "high", "step", "log"}, {"low", "high"}, where)
        log = data.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{where}: log must be true or false, got {log!r}")
        return cls(
            int(_number(data["low"], where, "low", integer=True)),
            int(_number(data["high"], where, "high", integer=True)),
            int(_number(data.get("step", 1), where, "step", integer=True)),
            log,
        )


@dataclass(frozen=True)
class Categorical:
    """One of a fixed, non-empty tuple of distinct choices."""

    choices: tuple[Number, ...]
    type_name: ClassVar[str] = "categorical"

    def validate(self, name: str, where: str) -> None:
        """Raise ConfigError unless this is a legal distribution for field ``name``."""
        rule = _rule(name, where)
        if not self.choices:
            raise ConfigError(f"{where}: categorical choices must not be empty")
        for choice in self.choices:
            if isinstance(choice, bool) or not isinstance(choice, int | float):
                raise ConfigError(f"{where}: choice {choice!r} is not a number")
            if rule.kind is int and not isinstance(choice, int):
                raise ConfigError(f"{where}: {name} is an integer field; choice {choice!r} is not")
            _check_value(name, choice, where, "choice")
        if len(set(self.choices)) != len(self.choices):
            raise ConfigError(f"{where}: categorical choices repeat: {list(self.choices)}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "choices": list(self.choices)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Categorical:
        _check_keys(data, {"type", "choices"}, {"choices"}, where)
        choices = data["choices"]
        if not isinstance(choices, list | tuple):
            raise ConfigError(f"{where}: choices must be a list, got {choices!r}")
        return cls(tuple(_numeric_string(c) for c in choices))


def _numeric_string(value: Any) -> Any:
    """``value`` with a numeric string ("1e-5", as PyYAML reads it) turned into its number."""
    if not isinstance(value, str):
        return value
    for parse in (int, float):
        try:
            return parse(value)
        except ValueError:
            continue
    return value


ParamSpec = LogUniform | Uniform | IntRange | Categorical

PARAM_TYPES: dict[str, type[ParamSpec]] = {
    cls.type_name: cls for cls in (LogUniform, Uniform, IntRange, Categorical)
}


def param_from_dict(data: Any, where: str) -> ParamSpec:
    """Parse one parameter spec such as ``{"type": "loguniform", "low": 1e-4, "high": 1e-2}``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a 'type' key, got {data!r}")
    type_name = data.get("type")
    if type_name not in PARAM_TYPES:
        raise ConfigError(
            f"{where}: type must be one of {', '.join(PARAM_TYPES)}, got {type_name!r}"
        )
    return PARAM_TYPES[type_name].from_dict(data, where)


def _fixed_value(name: str, value: Any, where: str) -> Number:
    rule = _rule(name, where)
    number = _number(value, where, "fixed value", integer=rule.kind is int)
    _check_value(name, number, where, "fixed value")
    return number


def _mapping(data: Any, where: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    return data


@dataclass(frozen=True)
class SearchSpace:
    """Distributions over TrainConfig fields, constants, and per-backbone replacements."""

    name: str
    params: Mapping[str, ParamSpec]
    fixed: Mapping[str, Number] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, ParamSpec]] = field(default_factory=dict)
    KEYS: ClassVar[tuple[str, ...]] = ("name", "params", "fixed", "overrides")

    def __post_init__(self) -> None:
        where = f"search space {self.name!r}"
        if not self.params:
            raise ConfigError(f"{where}: no parameters to tune")
        for pname, spec in self.params.items():
            spec.validate(pname, f"{where}: params.{pname}")
        for pname, value in self.fixed.items():
            _fixed_value(pname, value, f"{where}: fixed.{pname}")
            if pname in self.params:
                raise ConfigError(f"{where}: {pname} is both tuned (params) and fixed")
        for key, specs in self.overrides.items():
            if not isinstance(key, str) or not key:
                raise ConfigError(f"{where}: override keys must be backbone or encoder names")
            for pname, spec in specs.items():
                spec.validate(pname, f"{where}: overrides.{key}.{pname}")

    def for_backbone(self, backbone: str | None, encoder: str | None = None) -> SearchSpace:
        """The space a sweep of ``backbone`` (with ``encoder``) uses: the encoder's overrides,
        then the backbone's, applied, none left; another encoder's section parameters dropped
        (they would not change its runs). ``encoder`` None: no encoders axis, nothing dropped.
        """
        specs: dict[str, ParamSpec] = {}
        for key in (encoder, backbone):
            specs.update(self.overrides.get(key, {}) if key is not None else {})
        params = {**self.params, **specs}
        fixed = {k: v for k, v in self.fixed.items() if k not in specs}
        if encoder is not None:
            params = {k: v for k, v in params.items() if section_of(k) in (None, encoder)}
            fixed = {k: v for k, v in fixed.items() if section_of(k) in (None, encoder)}
        applied = [k for k in (encoder, backbone) if k is not None and self.overrides.get(k)]
        name = f"{self.name}@{'+'.join(applied)}" if applied else self.name
        return SearchSpace(name, params, fixed)

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON- and YAML-safe dict; ``from_dict`` rebuilds an equal space."""
        out: dict[str, Any] = {
            "name": self.name,
            "params": {k: self.params[k].to_dict() for k in sorted(self.params)},
        }
        if self.fixed:
            out["fixed"] = {k: self.fixed[k] for k in sorted(self.fixed)}
        if self.overrides:
            out["overrides"] = {
                b: {k: specs[k].to_dict() for k in sorted(specs)}
                for b, specs in sorted(self.overrides.items())
            }
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write the space atomically: JSON for a ``.json`` path, YAML otherwise."""
        text = self.to_json() if Path(path).suffix == ".json" else self.to_yaml()
        atomic_write(Path(path), lambda tmp: tmp.write_text(text))

    @classmethod
    def from_dict(cls, data: Any, name: str | None = None) -> SearchSpace:
        """Parse the ``to_dict`` form; ``name`` is used when the dict has none."""
        data = _mapping(data, "search space")
        space_name = data.get("name", name)
        if not isinstance(space_name, str) or not space_name:
            raise ConfigError(f"search space: name must be a non-empty string, got {space_name!r}")
        where = f"search space {space_name!r}"
        _check_keys(data, set(cls.KEYS), {"params"}, where)
        return cls(
            space_name,
            parse_params(data["params"], f"{where}: params"),
            parse_fixed(data.get("fixed"), f"{where}: fixed"),
            parse_overrides(data.get("overrides"), f"{where}: overrides"),
        )

    @classmethod
    def from_yaml(cls, text: str, name: str | None = None) -> SearchSpace:
        """Parse YAML (or JSON, a subset of it) in the ``to_dict`` form."""
        return cls.from_dict(load_yaml_text(text, name or "search space"), name)


def load_yaml_text(text: str, where: str) -> Any:
    """``yaml.safe_load`` with a one-line ConfigError on syntax errors."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{where}: not valid YAML: {detail}") from None


def parse_params(data: Any, where: str) -> dict[str, ParamSpec]:
    """Parse a ``{field: spec}`` mapping (nulls are not allowed here)."""
    return {str(k): param_from_dict(v, f"{where}.{k}") for k, v in _mapping(data, where).items()}


def parse_fixed(data: Any, where: str) -> dict[str, Number]:
    """Parse a ``{field: constant}`` mapping, checking each value against the field."""
    items = _mapping(data, where).items()
    return {str(k): _fixed_value(str(k), v, f"{where}.{k}") for k, v in items}


def parse_overrides(data: Any, where: str) -> dict[str, dict[str, ParamSpec]]:
    """Parse ``{backbone: {field: spec}}``."""
    items = _mapping(data, where).items()
    return {str(b): parse_params(specs, f"{where}.{b}") for b, specs in items}
