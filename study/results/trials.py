"""Read a Ray Tune experiment folder (one backbone of a study) without starting Ray.

Nothing here unpickles: the experiment state and result rows are JSON, type-checked; a damaged
or edited file is a DataError naming it, and a metric that no run can report (an accuracy
outside [0, 1], a NaN or infinite loss) is refused rather than printed.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from trainables.common.errors import DataError
from trainables.common.validation import validated_json

if TYPE_CHECKING:
    import pandas as pd

FINISHED = "TERMINATED"
FAILED = "ERROR"
ACCURACY = re.compile(r"(?:^|_)top\d+$")  # val_top1, test_chance_top5, ...
LOSS = re.compile(r"(?:^|_)loss$")  # train_loss, val_loss, test_loss
STATE_REREAD_FOR_S = 2.0  # how long an experiment state caught half-written is read again
CUT_SHORT = "EOF while parsing"  # the JSON parser's words for input that ends too early


def _value(row: dict[str, Any], metric: str) -> float | None:
    """``row[metric]`` as a float; None when missing, null or NaN (pandas' dropna semantics)."""
    value = row.get(metric)
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return None if math.isnan(number) else number


@dataclass
class TrialRecord:
    """One trial: its status, configuration and per-epoch history (result.json rows).

    The rows are plain dicts; ``history`` builds a DataFrame of them on first use, so reading a
    study (``study status``) never imports pandas.
    """

    trial_id: str
    status: str
    config: dict[str, Any]
    logdir: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def best(self, metric: str, mode: str) -> dict[str, Any] | None:
        """The first history row with the best value of ``metric`` (None: it never reported one)."""
        scored = [(v, row) for row in self.rows if (v := _value(row, metric)) is not None]
        if not scored:
            return None
        pick = max if mode == "max" else min
        best = pick(v for v, _ in scored)
        return next(row for v, row in scored if v == best)

    @property
    def epochs(self) -> int:
        return max((int(row["training_iteration"]) for row in self.rows), default=0)


@dataclass
class ExperimentState:
    """The part of Ray Tune's experiment_state-*.json read here: [trial JSON, metadata] pairs."""

    trial_data: list[tuple[str, Any]]


@dataclass
class TrialState:
    """The fields of one trial's JSON state read here (Ray stores many more)."""

    trial_id: str
    status: str
    relative_logdir: str
    config: dict[str, Any] | None = None


def _latest_state_file(experiment_dir: Path) -> Path | None:
    """The newest experiment state, chosen as Ray chooses it: by the timestamp in its name.

    (Not by mtime: a restored run copies the older session's state file again, later.) A
    running driver rewrites the file in place, so an empty newest file is the previous one's
    moment of being rewritten: the newest non-empty one is read instead.
    """
    states = sorted(experiment_dir.glob("experiment_state-*.json"), key=lambda p: p.name)
    written = [p for p in states if _size(p) > 0]
    return (written or states)[-1] if states else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _text(path: Path) -> str:
    """The file's text; a DataError naming it when it is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_row(row: dict[str, Any], where: str) -> None:
    """Refuse a result row no run reports: no epoch count, a bad accuracy or loss."""
    iteration = row.get("training_iteration")
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 1:
        raise DataError(f"{where}: training_iteration must be an integer >= 1, got {iteration!r}")
    for key, value in row.items():
        number = _number(value)
        if ACCURACY.search(key) and (number is None or not 0.0 <= number <= 1.0):
            raise DataError(f"{where}: {key} must be an accuracy in [0, 1], got {value!r}")
        if (LOSS.search(key) or key == "epoch") and (number is None or not math.isfinite(number)):
            raise DataError(f"{where}: {key} must be a finite number, got {value!r}")


def _read_rows(result_file: Path) -> list[dict[str, Any]]:
    if not result_file.is_file():
        return []
    rows = []
    for number, line in enumerate(_text(result_file).splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process (a restored trial appends after it)
        if not isinstance(row, dict):
            raise DataError(f"{result_file}: line {number} is not a JSON object")
        row.pop("config", None)
        check_row(row, f"{result_file}: line {number}")
        rows.append(row)
    return rows


def _last_line(path: Path) -> str | None:
    """The last line of an error file (undecodable bytes replaced: it is only shown)."""
    text = path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else ""
    lines = text.strip().splitlines()
    return lines[-1] if lines else None


def _trial_states(state_file: Path) -> list[TrialState]:
    """Each trial's state in an experiment state file, type-checked."""
    state = validated_json(ExperimentState, state_file.read_bytes(), str(state_file), DataError)
    trials = []
    for index, (trial_json, _runtime) in enumerate(state.trial_data):
        where = f"{state_file}: trial_data[{index}]"
        trial = validated_json(TrialState, trial_json, where, DataError)
        relative = PurePosixPath(trial.relative_logdir)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise DataError(
                f"{where}: relative_logdir {trial.relative_logdir!r} leaves the experiment folder"
            )
        trials.append(trial)
    return trials


def _current_trial_states(experiment_dir: Path) -> list[TrialState]:
    """The trials of the newest experiment state (none before one was written).

    A running driver rewrites that file in place, so a read can catch it empty or cut short
    (JSON that ends too early): such a read is repeated for up to STATE_REREAD_FOR_S. Any other
    damage, or a file still cut short then, is refused with its one-line DataError.
    """
    deadline = time.monotonic() + STATE_REREAD_FOR_S
    while True:
        state_file = _latest_state_file(experiment_dir)
        if state_file is None:
            return []
        try:
            return _trial_states(state_file)
        except FileNotFoundError:  # replaced between listing and reading: list again
            if time.monotonic() > deadline:
                raise DataError(f"{state_file}: disappeared while being read") from None
        except DataError as exc:
            if CUT_SHORT not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def read_trials(experiment_dir: Path) -> list[TrialRecord]:
    """All trials of one experiment folder, in trial-id order (empty if it never started)."""
    experiment_dir = Path(experiment_dir)
    records = []
    for trial in _current_trial_states(experiment_dir):
        logdir = experiment_dir / trial.relative_logdir
        error_file = logdir / "error.txt"
        records.append(
            TrialRecord(
                trial_id=trial.trial_id,
                status=trial.status,
                config=trial.config or {},
                logdir=logdir,
                rows=_read_rows(logdir / "result.json"),
                error=_last_line(error_file),
            )
        )
    return sorted(records, key=lambda r: r.trial_id)


def last_checkpoint(logdir: Path) -> Path | None:
    """The trial's ``checkpoint_NNNNNN`` folder with the highest number (None if it has none)."""
    numbered = []
    for path in Path(logdir).glob("checkpoint_*"):
        suffix = path.name.removeprefix("checkpoint_")
        if path.is_dir() and suffix.isdigit():
            numbered.append((int(suffix), path))
    return max(numbered)[1] if numbered else None
