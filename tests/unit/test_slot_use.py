"""How a sweep used its trial slots, from hand-made trial rows with known timelines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.results import (
    RUNS_FILE,
    TrialRecord,
    read_slot_uses,
    record_slot_use,
    slot_use,
    trial_runs,
)
from trainables.common.errors import DataError


def _run(entered: float, to_first_report: float, later: list[float]) -> list[dict]:
    first = {
        "started_at": entered,
        "startup_data_s": 0.01,
        "startup_restore_s": 0.0,
        "startup_first_report_s": to_first_report,
        "time_this_iter_s": to_first_report,
    }
    return [first, *({"time_this_iter_s": s} for s in later)]


def _trial(trial_id: str, rows: list[dict]) -> TrialRecord:
    return TrialRecord(trial_id, "TERMINATED", {}, Path(trial_id), rows)


# a sweep from t=100 for 20 s on 2 slots; epochs take 2 s, so each first epoch starts 2 s
# before the first report: A and B start the slots (A: 3 s before its function, 3 s in it;
# B: 4 + 2), C takes B's slot, freed at 110, and starts its first epoch at 111
TRIALS = [
    _trial("a", _run(103.0, 5.0, [2.0, 2.0])),  # first epoch 106-108, ends 112
    _trial("b", _run(104.0, 4.0, [2.0])),  # first epoch 106-108, ends 110
    _trial("c", _run(110.5, 2.5, [2.0, 2.0, 2.0])),  # first epoch 111-113, ends 119
]


def test_utilisation_and_start_up_of_a_known_timeline() -> None:
    use = slot_use(TRIALS, started_at=100.0, seconds=20.0, slots=2)
    assert (use.runs, use.epochs, use.epoch_s) == (3, 9, pytest.approx(18.0))
    assert use.utilisation == pytest.approx(18.0 / 40.0)
    assert use.first_startup_s == pytest.approx(6.0)  # medians: 3.5 before + 2.5 inside
    assert (use.first_before_s, use.first_inside_s) == (pytest.approx(3.5), pytest.approx(2.5))
    assert use.later_startup_s == pytest.approx(1.0)  # C: 0.5 after B's slot fell free + 0.5
    assert use.first_share == pytest.approx(12.0 / 40.0)
    assert use.later_share == pytest.approx(1.0 / 40.0)
    assert use.data_s == pytest.approx(0.01)
    assert "utilisation 45% (18 s in epochs)" in use.describe()
    assert "first trial of a slot 6.0 s, later trials 1.00 s" in use.describe()


def test_a_restarted_trial_is_two_runs_and_earlier_sweeps_do_not_count() -> None:
    restarted = _trial("r", _run(50.0, 3.0, [2.0]) + _run(104.0, 3.0, [2.0, 2.0]))
    assert [r.epochs for r in trial_runs([restarted])] == [2, 3]
    use = slot_use([restarted], started_at=100.0, seconds=10.0, slots=1)
    assert (use.runs, use.epochs, use.epoch_s) == (1, 3, pytest.approx(6.0))
    assert use.utilisation == pytest.approx(0.6)
    assert use.later_startup_s is None


def test_rows_before_a_trials_first_start_and_without_timing_are_not_runs() -> None:
    old = _trial("old", [{"time_this_iter_s": 2.0}, *_run(101.0, 3.0, [2.0])])
    cut = _trial("cut", [*_run(102.0, 3.0, []), {"epoch": 2}])
    runs = trial_runs([old, cut])
    assert [(r.entered, r.epochs) for r in runs] == [(101.0, 2), (102.0, 1)]
    assert runs[1].epoch_s == pytest.approx(2.0)  # one epoch: the median of all later epochs


@pytest.mark.parametrize(
    ("rows", "slots"),
    [
        (_run(101.0, 3.0, [30.0]), 1),  # more epoch time than the sweep had
        (_run(101.0, 3.0, [2.0] * 20), 8),  # 53% of 8 slots, but ending after the sweep ended
    ],
)
def test_rows_that_cannot_be_a_timeline_give_no_utilisation(rows: list[dict], slots: int) -> None:
    use = slot_use([_trial("x", rows)], started_at=100.0, seconds=10.0, slots=slots)
    assert use.utilisation is None and "utilisation n/a" in use.describe()


def test_no_runs() -> None:
    use = slot_use([], started_at=100.0, seconds=5.0, slots=2)
    assert (use.runs, use.epochs, use.utilisation, use.first_startup_s) == (0, 0, None, None)
    assert use.describe().startswith("5 s, 2 trial slots, 0 trial runs")


def test_records_round_trip_in_order_and_damage_is_one_line(tmp_path: Path) -> None:
    assert read_slot_uses(tmp_path) == []
    first = slot_use(TRIALS, started_at=100.0, seconds=20.0, slots=2)
    second = slot_use([], started_at=200.0, seconds=3.0, slots=2)
    record_slot_use(tmp_path, first)
    record_slot_use(tmp_path, second)
    assert read_slot_uses(tmp_path) == [first, second]
    path = tmp_path / RUNS_FILE
    path.write_text(json.dumps([{"started_at": "yesterday"}]))
    with pytest.raises(DataError, match=f"^{path}: ") as raised:
        read_slot_uses(tmp_path)
    assert "\n" not in str(raised.value)
