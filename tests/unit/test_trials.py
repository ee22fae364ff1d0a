"""Reading a Ray Tune experiment folder without Ray."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import study.results.trials as trials_module
from study.results import read_trials
from trainables.common.errors import DataError


def _state(path: Path, trials: list[tuple[str, str]]) -> None:
    data = [
        [json.dumps({"trial_id": t, "status": s, "config": {"x": 1}, "relative_logdir": t}), "{}"]
        for t, s in trials
    ]
    path.write_text(json.dumps({"trial_data": data, "runner_data": {}, "stats": {}}))


def test_newest_state_is_chosen_by_its_timestamp_name_not_mtime(tmp_path: Path) -> None:
    old = tmp_path / "experiment_state-2026-11-29_12-01-30.json"
    new = tmp_path / "experiment_state-2026-11-29_12-02-20.json"
    _state(new, [("a", "TERMINATED"), ("b", "TERMINATED")])
    _state(old, [("a", "RUNNING")])
    os.utime(new, (1_000, 1_000))  # a restored run re-copies the old file later
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "result.json").write_text(
        json.dumps({"training_iteration": 1, "val_top1": 0.5}) + "\n" + '{"training_iter'
    )
    trials = read_trials(tmp_path)
    assert [(t.trial_id, t.status) for t in trials] == [("a", "TERMINATED"), ("b", "TERMINATED")]
    assert trials[0].epochs == 1 and trials[0].best("val_top1", "max")["val_top1"] == 0.5
    assert trials[1].history.empty and trials[1].best("val_top1", "max") is None


def test_a_cut_line_inside_the_history_is_skipped_not_refused(tmp_path: Path) -> None:
    """A killed trial leaves a cut line; its restored run appends the next rows after it."""
    _state(tmp_path / "experiment_state-2026-11-29_12-01-30.json", [("a", "TERMINATED")])
    (tmp_path / "a").mkdir()
    rows = [{"training_iteration": i, "val_top1": i / 10, "val_loss": 1.0} for i in (1, 2)]
    cut = json.dumps(rows[0]) + "\n" + '{"training_iter' + json.dumps(rows[1]) + "\n"
    (tmp_path / "a" / "result.json").write_text(cut + json.dumps(rows[1]) + "\n")
    [trial] = read_trials(tmp_path)
    assert trial.epochs == 2 and trial.best("val_top1", "max")["val_top1"] == 0.2


@pytest.mark.parametrize("caught", [b"", b'{"trial_data": [["{\\"trial_id'])
def test_a_state_caught_while_the_driver_rewrites_it_is_read_again(
    tmp_path: Path, caught: bytes
) -> None:
    """Ray rewrites the experiment state in place: `study status` during a sweep can find it
    empty or half-written, and reads it again once the driver has finished writing."""
    path = tmp_path / "experiment_state-2026-11-29_12-01-30.json"
    path.write_bytes(caught)
    writer = threading.Timer(0.3, _state, (path, [("a", "RUNNING")]))
    writer.start()
    try:
        assert [(t.trial_id, t.status) for t in read_trials(tmp_path)] == [("a", "RUNNING")]
    finally:
        writer.join()


@pytest.mark.parametrize("content", [b"", b'{"trial_data": [["{\\"trial_id'])
def test_a_state_that_stays_unreadable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    monkeypatch.setattr(trials_module, "STATE_REREAD_FOR_S", 0.3)
    path = tmp_path / "experiment_state-2026-11-29_12-01-30.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{path}: not valid JSON"):
        read_trials(tmp_path)
