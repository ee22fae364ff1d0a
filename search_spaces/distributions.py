"""The one mapping from a search-space parameter to the Optuna distribution it is sampled from.

Used by the define-by-run sampler (the sweep's proposals) and by the report's importances (which
rebuild an Optuna study from the trials), so both see the same distributions. Optuna is
imported on the first call (`study status` validates search spaces without it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_spaces.spec import Categorical, IntRange, LogUniform, ParamSpec, Uniform

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


def distribution(spec: ParamSpec) -> BaseDistribution:
    """The Optuna distribution of a search-space parameter."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    match spec:
        case LogUniform(low, high):
            return FloatDistribution(low, high, log=True)
        case Uniform(low, high):
            return FloatDistribution(low, high)
        case IntRange(low, high, step, log):
            return IntDistribution(low, high, log=log, step=step)
        case Categorical(choices):
            return CategoricalDistribution(list(choices))
    raise TypeError(f"not a parameter spec: {spec!r}")
