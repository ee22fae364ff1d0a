"""Optuna parameter importances of a sweep, from an in-memory study rebuilt from its trials.

PED-ANOVA measures how differently each parameter is distributed among the top
``TARGET_QUANTILE`` of trials than among all trials. With few trials the top group is one or
two trials, and the "importances" only describe where those happened to land (the demo's
6-trial sweeps gave both backbones identical importances because one trial ranked first in
each). Optuna's documentation advises at least 5 trials in the top quantile for a stable
estimate; with the top quarter (``TARGET_QUANTILE = 0.25``) that takes ``MIN_TRIALS = 20``
usable trials (ceil(0.25 * 20) = 5). Below that, importances are left out of the report
and a note says why and how many trials there were. (With Optuna's default top 10%,
5 top trials would take 41 trials, more than most sweeps run.)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import optuna

from search_spaces import SearchSpace, distribution
from study.results import TrialRecord

TARGET_QUANTILE = 0.25
MIN_TOP_TRIALS = 5
MIN_TRIALS = math.ceil(MIN_TOP_TRIALS / TARGET_QUANTILE)
EVALUATOR = (
    f"PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator, top {TARGET_QUANTILE:.0%} "
    "of trials vs all)"
)


@dataclass(frozen=True)
class Importances:
    """A backbone's importances and the number of trials they rest on (None: too few)."""

    trials: int
    values: dict[str, float] | None

    @property
    def note(self) -> str | None:
        """Why the importances were left out, or None when they were computed."""
        if self.values is not None:
            return None
        return (
            f"left out: {self.trials} usable trial(s), fewer than the {MIN_TRIALS} needed for "
            f"{MIN_TOP_TRIALS} trials in the top {TARGET_QUANTILE:.0%}"
        )


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
) -> Importances | None:
    """Normalised importances of the tuned parameters (None: nothing was tuned).

    Their ``values`` are None with fewer than MIN_TRIALS usable trials.
    """
    if not space.get("params"):
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = rebuild_study(space, trials, metric, mode)
    if len(study.trials) < MIN_TRIALS:
        return Importances(trials=len(study.trials), values=None)
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=TARGET_QUANTILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    values = {name: float(value) for name, value in importances.items()}
    return Importances(trials=len(study.trials), values=values)
