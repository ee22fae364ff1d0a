"""One bound on the trials a whole study runs at once, shared by the searchers of its cells.

Every cell keeps its own Tuner, searcher, seed and scheduler; when the cells run concurrently,
their searchers also take a slot from one :class:`TrialSlots` actor per study before proposing a
trial and give it back when the trial completes (finished, stopped early or failed for good).
The actor is found by name, so a searcher restored from a killed driver's state (which pickles
it) finds the resumed driver's new actor; trials that were running when the driver died are
re-run by their Tuner and take their slots back first (briefly exceeding the bound if needed).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ray.tune.search import ConcurrencyLimiter, Searcher

SLOTS_PREFIX = "study-slots-"


def slots_name(study_dir: Path) -> str:
    """The slots actor's name for a study folder (one per running study driver)."""
    return SLOTS_PREFIX + hashlib.sha256(str(Path(study_dir).resolve()).encode()).hexdigest()[:16]


class TrialSlots:
    """At most ``limit`` holders at a time (a Ray actor; holders are ``cell/trial_id``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.holders: set[str] = set()
        self.peak = 0

    def acquire(self, holder: str) -> bool:
        if holder not in self.holders and len(self.holders) >= self.limit:
            return False
        self.holders.add(holder)
        self.peak = max(self.peak, len(self.holders))
        return True

    def reclaim(self, holders: list[str]) -> None:
        """Slots of trials already running (restored after a killed driver), over the limit
        if need be."""
        self.holders.update(holders)
        self.peak = max(self.peak, len(self.holders))

    def release(self, holder: str) -> None:
        self.holders.discard(holder)

    def usage(self) -> tuple[int, int]:
        """(slots held now, most ever held at once)."""
        return len(self.holders), self.peak


def start_slots(study_dir: Path, limit: int) -> Any:
    """The study's slots actor (no CPU; on the driver's node, so that losing a worker node
    never takes it; lives as long as the driver)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    actor = ray.remote(num_cpus=0)(TrialSlots)
    return actor.options(
        name=slots_name(study_dir), get_if_exists=True, scheduling_strategy=here
    ).remote(limit)


class StudySlotLimiter(ConcurrencyLimiter):
    """A cell's ConcurrencyLimiter that also holds one of the study's slots per live trial."""

    def __init__(self, searcher: Searcher, max_concurrent: int, cell: str, slots: str) -> None:
        super().__init__(searcher, max_concurrent=max_concurrent)
        self.cell = cell
        self.slots = slots
        self._handle: Any = None
        self._reclaimed = False

    def _actor(self) -> Any:
        import ray

        if self._handle is None:
            self._handle = ray.get_actor(self.slots)
        if not self._reclaimed:
            ray.get(self._handle.reclaim.remote([self._holder(t) for t in self.live_trials]))
            self._reclaimed = True
        return self._handle

    def _holder(self, trial_id: str) -> str:
        return f"{self.cell}/{trial_id}"

    def suggest(self, trial_id: str) -> dict | None:
        import ray

        actor = self._actor()
        if len(self.live_trials) >= self.max_concurrent:
            return None
        if not ray.get(actor.acquire.remote(self._holder(trial_id))):
            return None
        suggestion = super().suggest(trial_id)
        if trial_id not in self.live_trials:
            actor.release.remote(self._holder(trial_id))
        return suggestion

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        live = trial_id in self.live_trials
        super().on_trial_complete(trial_id, result=result, error=error)
        if live:
            self._actor().release.remote(self._holder(trial_id))

    def get_state(self) -> dict:
        handle, self._handle = self._handle, None  # an actor handle is not state
        try:
            state = super().get_state()
        finally:
            self._handle = handle
        state["_reclaimed"] = False
        return state

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self._handle, self._reclaimed = None, False

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handle"], state["_reclaimed"] = None, False
        return state
