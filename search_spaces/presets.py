"""Named search-space presets, YAML space files (from scratch or `base: <preset>`), resolve()."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search_spaces.spec import (
    Categorical,
    IntRange,
    LogUniform,
    Number,
    ParamSpec,
    SearchSpace,
    Uniform,
    load_yaml_text,
    param_from_dict,
    parse_fixed,
    parse_overrides,
)
from trainables.common.errors import ConfigError

SEED = SearchSpace(
    name="seed",
    params={
        "lr_encoder": LogUniform(3e-3, 2e-2),
        "lr_projector": LogUniform(3e-3, 2e-2),
        "warmup_encoder": IntRange(2, 6),
        "warmup_projector": IntRange(1, 4),
        "latent_dim": Categorical((128, 256, 512)),
    },
)

WIDE = SearchSpace(
    name="wide",
    params={
        "lr_encoder": LogUniform(1e-4, 3e-2),
        "lr_projector": LogUniform(1e-4, 3e-2),
        "warmup_encoder": IntRange(0, 10),
        "warmup_projector": IntRange(0, 10),
        "latent_dim": Categorical((64, 128, 256, 512, 1024)),
        "temperature_init": LogUniform(0.01, 0.2),
        "dropout": Uniform(0.0, 0.7),
        "weight_decay": Categorical((0.0, 1e-6, 1e-5, 1e-4, 1e-3)),
        "batch_size": Categorical((128, 256, 512, 1024)),
    },
)

PRESETS: dict[str, SearchSpace] = {space.name: space for space in (SEED, WIDE)}

FILE_SUFFIXES = (".yaml", ".yml", ".json")


def preset(name: str) -> SearchSpace:
    """The preset called ``name``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown search-space preset {name!r} (presets: {', '.join(PRESETS)})"
        ) from None


def _nullable_params(data: Any, where: str) -> dict[str, ParamSpec | None]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    return {
        str(k): None if v is None else param_from_dict(v, f"{where}.{k}") for k, v in data.items()
    }


def _nullable_fixed(data: Any, where: str) -> dict[str, Number | None]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    kept = parse_fixed({k: v for k, v in data.items() if v is not None}, where)
    return {str(k): kept.get(str(k)) for k in data}


def _extend(base: SearchSpace, data: Mapping[str, Any], name: str) -> SearchSpace:
    """``base`` with the ``params``/``fixed``/``overrides`` of ``data`` laid over it."""
    where = f"search space {name!r}"
    params_in = _nullable_params(data.get("params"), f"{where}: params")
    fixed_in = _nullable_fixed(data.get("fixed"), f"{where}: fixed")
    both = sorted(
        k
        for k in set(params_in) & set(fixed_in)
        if params_in[k] is not None and fixed_in[k] is not None
    )
    if both:
        raise ConfigError(f"{where}: {', '.join(both)} both tuned (params) and fixed")
    params: dict[str, ParamSpec] = dict(base.params)
    fixed: dict[str, Number] = dict(base.fixed)
    for key, spec in params_in.items():
        params.pop(key, None)
        if spec is not None:
            fixed.pop(key, None)
            params[key] = spec
    for key, value in fixed_in.items():
        fixed.pop(key, None)
        if value is not None:
            params.pop(key, None)
            fixed[key] = value
    overrides = {b: dict(specs) for b, specs in base.overrides.items()}
    for backbone, specs in parse_overrides(data.get("overrides"), f"{where}: overrides").items():
        overrides.setdefault(backbone, {}).update(specs)
    return SearchSpace(name, params, fixed, overrides)


def space_from_dict(data: Any, default_name: str) -> SearchSpace:
    """A space from its dict form; with ``base: <preset>`` the dict amends that preset.

    Amending, ``params`` and ``fixed`` entries replace the preset's for that field, and a
    null entry removes the field (the trial then uses the TrainConfig default).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"search space {default_name!r}: expected a mapping, got {data!r}")
    if "base" not in data:
        return SearchSpace.from_dict(data, default_name)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"search space: name must be a non-empty string, got {name!r}")
    unknown = sorted(set(data) - {"base", *SearchSpace.KEYS})
    if unknown:
        raise ConfigError(
            f"search space {name!r}: unknown key(s) {', '.join(unknown)} "
            f"(allowed: base, {', '.join(SearchSpace.KEYS)})"
        )
    base = data["base"]
    if not isinstance(base, str):
        raise ConfigError(f"search space {name!r}: base must be a preset name, got {base!r}")
    return _extend(preset(base), data, name)


def load_space_file(path: Path) -> SearchSpace:
    """Read a YAML/JSON space file; its name defaults to the file's stem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read search-space file {path}: {exc.strerror}") from None
    return space_from_dict(load_yaml_text(text, f"search-space file {path}"), path.stem)


def resolve(
    name_or_path: str | Path, backbone: str | None = None, encoder: str | None = None
) -> SearchSpace:
    """The exact space a sweep of ``backbone`` (with ``encoder``) uses: a preset or file, its
    overrides applied (see ``SearchSpace.for_backbone``)."""
    text = str(name_or_path)
    if text in PRESETS:
        space = PRESETS[text]
    else:
        path = Path(text)
        if not path.is_file():
            kind = "no such file" if path.suffix in FILE_SUFFIXES else "not a preset or a file"
            raise ConfigError(
                f"search space {text!r}: {kind} (presets: {', '.join(PRESETS)}; "
                f"or a {'/'.join(FILE_SUFFIXES)} file)"
            )
        space = load_space_file(path)
    return space.for_backbone(backbone, encoder)
