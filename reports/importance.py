"""Optuna parameter importances of a sweep, from an in-memory study rebuilt from its trials."""

from __future__ import annotations

import math
import warnings
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from reports.trials import TrialRecord
from search_spaces.spec import Categorical, IntRange, LogUniform, ParamSpec, SearchSpace, Uniform

EVALUATOR = "PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator)"
MIN_TRIALS = 4


def distribution(spec: ParamSpec) -> BaseDistribution:
    """The Optuna distribution a search-space parameter was sampled from."""
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


def rebuild_study(
    space: dict[str, Any], trials: list[TrialRecord], metric: str, mode: str
) -> optuna.Study:
    """A study holding each trial's sampled parameters and best ``metric`` as a complete trial.

    Trials with no finite ``metric``, or whose config lies outside the space, are left out.
    """
    resolved = SearchSpace.from_dict(space)
    distributions = {name: distribution(spec) for name, spec in resolved.params.items()}
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    for trial in trials:
        row = trial.best(metric, mode)
        if row is None or not math.isfinite(float(row[metric])):
            continue
        params = {name: trial.config.get(name) for name in distributions}
        try:
            frozen = optuna.trial.create_trial(
                params=params, distributions=distributions, value=float(row[metric])
            )
        except (ValueError, TypeError):
            continue  # a config outside the space (edited by hand, or a changed space)
        study.add_trial(frozen)
    return study


def param_importances(
    space: dict[str, Any], trials: list[TrialRecord], metric: str, mode: str
) -> dict[str, float] | None:
    """Normalised importances of the tuned parameters; None with fewer than MIN_TRIALS trials."""
    if not space.get("params"):
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = rebuild_study(space, trials, metric, mode)
    if len(study.trials) < MIN_TRIALS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importances = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
        )
    return {name: float(value) for name, value in importances.items()}
