"""How a sweep used its trial slots: time in training epochs against wall time x slots, and each
trial run's start-up, from the trials' rows; one record per `study sweep`/`resume` that ended,
kept in ``<study>/sweep_runs.json``."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from study.results.trials import TrialRecord
from trainables.common.atomic import save_json_atomic
from trainables.common.errors import DataError
from trainables.common.validation import validated_json

RUNS_FILE = "sweep_runs.json"
_FIRST_ROW = ("started_at", "startup_data_s", "startup_first_report_s")


@dataclass
class TrialRun:
    """One run of a trial (a trial restarted from a checkpoint has several), wall-clock seconds."""

    entered: float  # the trial function was entered
    data_s: float  # of which resolving the data
    first_epoch_start: float
    end: float
    epoch_s: float  # time in training epochs (the first epoch's estimated, see ``trial_runs``)
    epochs: int


@dataclass
class SlotUse:
    """One sweep (or resume) of a study: its wall time, its slots and how they were used.

    ``utilisation`` is the time the trial runs started in it spent in training epochs over
    ``seconds * slots`` (None when no run reported, or when the rows cannot support a figure).
    Start-up is the gap from a slot falling free (the sweep's start for the first trial of a
    slot) to the trial's first epoch: ``before`` its function is entered (scheduling, actor
    start or reset), then ``inside`` it (data, model build, first-step warm-up); medians.
    """

    started_at: float  # time.time() when the sweep started
    seconds: float
    slots: int
    runs: int
    epochs: int
    epoch_s: float
    utilisation: float | None
    first_startup_s: float | None = None
    first_before_s: float | None = None
    first_inside_s: float | None = None
    first_share: float = 0.0  # of wall time x slots: the first trial of each slot's start-up
    later_startup_s: float | None = None
    later_before_s: float | None = None
    later_inside_s: float | None = None
    later_share: float = 0.0
    data_s: float | None = None  # median time to resolve the data, all runs

    def describe(self) -> str:
        """One line: wall time, slots, runs, utilisation and start-up."""
        use = "n/a" if self.utilisation is None else f"{self.utilisation:.0%}"
        text = (
            f"{self.seconds:.0f} s, {self.slots} trial slots, {self.runs} trial runs, "
            f"{self.epochs} epochs: utilisation {use} ({self.epoch_s:.0f} s in epochs)"
        )
        if self.first_startup_s is not None:
            text += f"; start-up: first trial of a slot {self.first_startup_s:.1f} s"
        if self.later_startup_s is not None:
            text += f", later trials {self.later_startup_s:.2f} s (median)"
        return text


def trial_runs(trials: Iterable[TrialRecord]) -> list[TrialRun]:
    """Every trial's runs (a run starts at a row carrying ``started_at``). The first epoch's
    length is not reported apart from the start-up before it, so it is taken as the median of
    the run's later epochs (of all runs' later epochs for a run stopped after one)."""
    split: list[list[dict]] = []
    for trial in trials:
        current: list[dict] | None = None  # rows before a trial's first start are not a run
        for row in trial.rows:
            if all(key in row for key in _FIRST_ROW):
                current = [row]
                split.append(current)
            elif current is not None and "time_this_iter_s" in row:
                current.append(row)
    later = [r["time_this_iter_s"] for rows in split for r in rows[1:]]
    overall = statistics.median(later) if later else 0.0
    out = []
    for first, *more in split:
        rest = [r["time_this_iter_s"] for r in more]
        epoch1 = statistics.median(rest) if rest else overall
        reported = first["started_at"] + first["startup_first_report_s"]
        out.append(
            TrialRun(
                entered=first["started_at"],
                data_s=first["startup_data_s"],
                first_epoch_start=reported - epoch1,
                end=reported + sum(rest),
                epoch_s=epoch1 + sum(rest),
                epochs=1 + len(rest),
            )
        )
    return out


def slot_use(
    trials: Iterable[TrialRecord], started_at: float, seconds: float, slots: int
) -> SlotUse:
    """The slot use of the sweep that ran from ``started_at`` for ``seconds``, over the trial
    runs entered in that time; each run takes the slot freed most recently before its first
    epoch started."""
    end = started_at + seconds
    runs = [r for r in trial_runs(trials) if started_at <= r.entered <= end]
    free = [started_at] * slots
    parts: dict[str, list[tuple[float, float]]] = {"first": [], "later": []}
    for run in sorted(runs, key=lambda r: r.first_epoch_start):
        ready = [f for f in free if f <= run.first_epoch_start]
        slot = free.index(max(ready) if ready else min(free))
        kind = "first" if free[slot] == started_at else "later"
        parts[kind].append((run.entered - free[slot], run.first_epoch_start - run.entered))
        free[slot] = run.end
    busy = sum(r.epoch_s for r in runs)
    utilisation = busy / (seconds * slots) if runs and seconds > 0 else None
    if utilisation is not None and (utilisation > 1.0 or any(r.end > end + 1.0 for r in runs)):
        utilisation = None  # Ray's time_this_iter_s did not measure the epochs here
    first, later = (_start_up(parts[kind], seconds * slots) for kind in ("first", "later"))
    return SlotUse(
        started_at=started_at,
        seconds=seconds,
        slots=slots,
        runs=len(runs),
        epochs=sum(r.epochs for r in runs),
        epoch_s=busy,
        utilisation=utilisation,
        first_startup_s=first[0],
        first_before_s=first[1],
        first_inside_s=first[2],
        first_share=first[3],
        later_startup_s=later[0],
        later_before_s=later[1],
        later_inside_s=later[2],
        later_share=later[3],
        data_s=statistics.median(r.data_s for r in runs) if runs else None,
    )


def _start_up(
    gaps: list[tuple[float, float]], slot_seconds: float
) -> tuple[float | None, float | None, float | None, float]:
    """Median start-up (total, before, inside) of these runs and their share of the slot time."""
    if not gaps:
        return None, None, None, 0.0
    before = statistics.median(b for b, _ in gaps)
    inside = statistics.median(i for _, i in gaps)
    return before + inside, before, inside, sum(b + i for b, i in gaps) / slot_seconds


def read_slot_uses(study_dir: Path) -> list[SlotUse]:
    """The study's recorded sweeps, oldest first (none before a sweep ended); damaged: DataError."""
    path = study_dir / RUNS_FILE
    if not path.is_file():
        return []
    return validated_json(list[SlotUse], path.read_bytes(), str(path), DataError)


def record_slot_use(study_dir: Path, use: SlotUse) -> None:
    """Add one sweep's record to ``<study>/sweep_runs.json`` (atomically)."""
    uses = [*read_slot_uses(study_dir), use]
    save_json_atomic(study_dir / RUNS_FILE, [asdict(u) for u in uses])
