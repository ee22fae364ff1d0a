"""Read a Ray Tune experiment folder (one backbone of a study) without starting Ray."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

FINISHED = "TERMINATED"
FAILED = "ERROR"


@dataclass
class TrialRecord:
    """One trial: its status, configuration and per-epoch history (result.json rows)."""

    trial_id: str
    status: str
    config: dict[str, Any]
    logdir: Path
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    error: str | None = None

    def best(self, metric: str, mode: str) -> pd.Series | None:
        """The history row with the best value of ``metric`` (None before the first report)."""
        if self.history.empty or metric not in self.history:
            return None
        column = self.history[metric]
        index = column.idxmax() if mode == "max" else column.idxmin()
        return self.history.loc[index]

    @property
    def epochs(self) -> int:
        return 0 if self.history.empty else int(self.history["training_iteration"].max())


def _latest_state_file(experiment_dir: Path) -> Path | None:
    """The newest experiment state, chosen as Ray chooses it: by the timestamp in its name.

    (Not by mtime: a restored run copies the older session's state file again, later.)
    """
    states = sorted(experiment_dir.glob("experiment_state-*.json"), key=lambda p: p.name)
    return states[-1] if states else None


def _read_history(result_file: Path) -> pd.DataFrame:
    if not result_file.is_file():
        return pd.DataFrame()
    rows = []
    for line in result_file.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
        row.pop("config", None)
        rows.append(row)
    return pd.DataFrame(rows)


def _last_line(path: Path) -> str | None:
    lines = path.read_text().strip().splitlines() if path.is_file() else []
    return lines[-1] if lines else None


def read_trials(experiment_dir: Path) -> list[TrialRecord]:
    """All trials of one experiment folder, in trial-id order (empty if it never started)."""
    experiment_dir = Path(experiment_dir)
    state_file = _latest_state_file(experiment_dir)
    if state_file is None:
        return []
    state = json.loads(state_file.read_text())
    records = []
    for trial_json, _runtime in state["trial_data"]:
        trial = json.loads(trial_json)
        logdir = experiment_dir / trial["relative_logdir"]
        error_file = logdir / "error.txt"
        records.append(
            TrialRecord(
                trial_id=trial["trial_id"],
                status=trial["status"],
                config=trial.get("config") or {},
                logdir=logdir,
                history=_read_history(logdir / "result.json"),
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
