"""A SearchSpace as a define-by-run function for Ray's OptunaSearch, or a config sampler.

Optuna is imported when a value is suggested, not with the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search_spaces.distributions import distribution
from search_spaces.spec import TUNABLE_FIELDS, Number, ParamSpec, SearchSpace, section_rule

if TYPE_CHECKING:
    import optuna


def _as_field_type(name: str, value: Number) -> Number:
    """``value`` as the TrainConfig field's type (a categorical 0 for a float field is 0.0)."""
    rule = TUNABLE_FIELDS.get(name) or section_rule(name)
    assert rule is not None, name  # a validated space tunes known fields only
    return rule.kind(value)


def suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Number:
    """Ask ``trial`` for field ``name`` under ``spec``'s distribution; the value has the field's
    type. (Optuna's public suggest_* calls rebuild exactly the distribution they are given.)"""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    try:
        dist = distribution(spec)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None
    match dist:
        case FloatDistribution():
            value: Number = trial.suggest_float(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        case IntDistribution():
            value = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        case CategoricalDistribution():
            value = trial.suggest_categorical(name, list(dist.choices))
    return _as_field_type(name, value)


@dataclass(frozen=True)
class DefineByRun:
    """The define-by-run function of a resolved space; picklable, so searcher state can be saved.

    Calling it suggests every tuned field (in name order, so proposals do not depend on the
    order a YAML file lists them) and returns the fixed constants plus every value cast to its
    field's type; Ray's OptunaSearch merges that dict over the values it captured.
    """

    space: SearchSpace

    def __post_init__(self) -> None:
        if self.space.overrides:
            raise ValueError(
                f"search space {self.space.name!r} still has per-backbone overrides; "
                "pass space.for_backbone(name) (or presets.resolve) first"
            )

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return sample_config(self.space, trial)


def sample_config(space: SearchSpace, trial: optuna.Trial) -> dict[str, Any]:
    """A plain config dict (tuned + fixed fields) for a resolved ``space``, drawn from ``trial``."""
    config: dict[str, Any] = {
        name: _as_field_type(name, value) for name, value in sorted(space.fixed.items())
    }
    for name in sorted(space.params):
        config[name] = suggest(trial, name, space.params[name])
    return config


def define_by_run(space: SearchSpace) -> DefineByRun:
    """The function to pass as ``OptunaSearch(space=...)`` for a resolved ``space``."""
    return DefineByRun(space)
