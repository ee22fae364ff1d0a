"""The one best-trial picker, used by `study status`, `study final`, `study export-best`, the
sweep's recorded outcome (``sweep_done.json``) and the report.

The rule, deterministic for any order of the trials:

1. a trial's score is the best value of the objective it reported (rows without a value are
   ignored), taken at the first epoch that reached it;
2. the best trial is the one with the best score (max or min, as the objective says);
3. trials whose scores are exactly equal: the lowest trial id wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from study.results.study_folder import StudyResults
from study.results.trials import FAILED, FINISHED, TrialRecord


@dataclass(frozen=True)
class BestTrial:
    """A cell's best sweep trial by the study objective ``metric``, and how its sweep went.

    ``backbone`` is the cell's key (the backbone's name in a study without an encoders axis).
    """

    backbone: str
    metric: str
    trial: TrialRecord | None
    row: dict[str, Any]
    trials_run: int
    trials_finished: int
    trials_errored: int

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.trial.config) if self.trial is not None else {}

    @property
    def value(self) -> float | None:
        """The best trial's best ``metric`` (None: no trial reported it)."""
        return None if self.trial is None else float(self.row[self.metric])

    @property
    def epoch(self) -> int | None:
        """The epoch (training_iteration) where the best trial reached that value."""
        return None if self.trial is None else int(self.row["training_iteration"])


def best_trial(backbone: str, trials: Iterable[TrialRecord], metric: str, mode: str) -> BestTrial:
    """The trial whose best reported ``metric`` is best; ties: the lowest trial id."""
    trials = sorted(trials, key=lambda t: t.trial_id)
    chosen: tuple[TrialRecord, dict[str, Any]] | None = None
    for trial in trials:
        row = trial.best(metric, mode)
        if row is None:
            continue
        if chosen is None or _better(float(row[metric]), float(chosen[1][metric]), mode):
            chosen = (trial, dict(row))
    return BestTrial(
        backbone=backbone,
        metric=metric,
        trial=chosen[0] if chosen else None,
        row=chosen[1] if chosen else {},
        trials_run=len(trials),
        trials_finished=sum(t.status == FINISHED for t in trials),
        trials_errored=sum(t.status == FAILED for t in trials),
    )


def _better(value: float, incumbent: float, mode: str) -> bool:
    return value > incumbent if mode == "max" else value < incumbent


def best_trials(results: StudyResults) -> list[BestTrial]:
    """Each cell's best trial, in the spec's cell order."""
    return [
        best_trial(cell.key, results.trials[cell.key], results.objective, results.mode)
        for cell in results.spec.cells()
    ]
