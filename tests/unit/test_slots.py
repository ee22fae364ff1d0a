"""The study-wide trial bound shared by the cells' searchers (study.slots), without a Ray runtime:
the slots actor is the plain class behind a stand-in handle."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.tune.search import Searcher

from study.slots import StudySlotLimiter, TrialSlots, slots_name


class Counting(Searcher):
    """Proposes {"n": 0}, {"n": 1}, ... and records what it was told."""

    def __init__(self) -> None:
        super().__init__(metric="val_top1", mode="max")
        self.proposed = 0
        self.completed: list[str] = []

    def suggest(self, trial_id: str) -> dict[str, Any]:
        self.proposed += 1
        return {"n": self.proposed - 1}

    def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
        self.completed.append(trial_id)


class Handle:
    """A stand-in for the actor handle: ``handle.method.remote(...)`` calls the object."""

    def __init__(self, slots: TrialSlots) -> None:
        self.slots = slots

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.slots, name)
        return type("Remote", (), {"remote": staticmethod(method)})


@pytest.fixture
def slots(monkeypatch: pytest.MonkeyPatch) -> TrialSlots:
    shared = TrialSlots(limit=3)
    monkeypatch.setattr(ray, "get", lambda value: value)
    monkeypatch.setattr(ray, "get_actor", lambda name: Handle(shared))
    return shared


def limiter(cell: str, per_cell: int = 2) -> StudySlotLimiter:
    return StudySlotLimiter(Counting(), per_cell, cell, "study-slots-x")


def test_cells_share_one_bound_and_each_keeps_its_own_limit(slots: TrialSlots) -> None:
    a, b = limiter("nice+synclr"), limiter("nice+aligned_synclr")
    assert a.suggest("a1") == {"n": 0} and a.suggest("a2") == {"n": 1}
    assert a.suggest("a3") is None  # the cell's own limit (2)
    assert b.suggest("b1") == {"n": 0}
    assert b.suggest("b2") is None  # the study's bound (3) is reached
    assert slots.usage() == (3, 3)
    a.on_trial_complete("a1", {"val_top1": 0.5})
    assert b.suggest("b2") == {"n": 1}  # the freed slot goes to the waiting cell
    assert a.searcher.completed == ["a1"] and slots.holders == {
        "nice+synclr/a2",
        "nice+aligned_synclr/b1",
        "nice+aligned_synclr/b2",
    }
    b.on_trial_complete("b1", error=True)  # failed for good: its slot comes back too
    assert slots.usage() == (2, 3)


def test_a_refused_proposal_does_not_consume_the_searchers_budget(slots: TrialSlots) -> None:
    a, b = limiter("a", per_cell=3), limiter("b", per_cell=3)
    for trial in ("a1", "a2", "a3"):
        a.suggest(trial)
    assert b.suggest("b1") is None and b.searcher.proposed == 0


def test_restored_limiter_reclaims_the_slots_of_its_running_trials(slots: TrialSlots) -> None:
    a = limiter("a")
    a.suggest("a1")
    a.suggest("a2")
    saved = pickle.loads(pickle.dumps(a))  # as the killed driver's tuner state holds it
    state = a.get_state()
    assert "_handle" not in state or state["_handle"] is None
    slots.holders.clear()  # the resumed driver starts a fresh slots actor
    slots.peak = 0
    saved.set_state(state)
    b = limiter("b")
    assert saved.suggest("a3") is None  # its two restored trials are still live
    assert slots.holders == {"a/a1", "a/a2"}
    assert b.suggest("b1") == {"n": 0} and b.suggest("b2") is None


def test_slots_are_named_per_study_folder(tmp_path: Path) -> None:
    assert slots_name(tmp_path / "a") == slots_name(tmp_path / "x" / ".." / "a")
    assert slots_name(tmp_path / "a") != slots_name(tmp_path / "b")
