"""Sweep benchmark on the synthetic twin, side by side in one run.

0. Start-up: the demo-size sweep (small twin, 6 trials x <= 12 epochs, TPE + ASHA, 2 at once)
   with Ray's actors reused between trials vs a fresh worker per trial: wall time, per-trial
   start-up (from the trial's slot falling free to its first epoch starting: actor start or
   reset, data resolution, model build, first-step warm-up; median over the trials after the
   first one of each slot) and utilisation (the fraction of wall time x trial slots spent in
   training epochs).
1. Cells: a two-cell study (an aligned pair, the demo's budget per cell) with its Tuners at
   once vs one after the other (``concurrent_cells=1``), the same 2 trial slots: wall time,
   start-up and utilisation over both cells' trials.
2. Search: Optuna TPE + ASHA vs full-budget random search (no early stopping) at the same trial
   count: epochs spent and best validation top-1 reached by each.
3. Memory: peak proportional set size (PSS: shared pages split between the processes sharing
   them) of all Ray worker processes while N trials run at once vs one, on one full-scale
   subject; the prepared data is shared through the object store, not copied per trial.

4. Length: utilisation of the demo-size sweep (2 slots of 1 CPU, and 1 slot of 2 CPUs), of the
   default study budget (12 trials x <= 30 epochs) on the small twin and of the same budget on
   one full-scale subject, with the slot time not spent in epochs split into cold start-up,
   later start-ups and idle slots.

Run: uv run python tests/benchmarks/bench_sweep.py
     [--part startup|cells|search|memory|length|all]
     [--trials 8] [--epochs 12] [--concurrent 2]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from study.ray_runtime import init_ray
from study.results import SlotUse, read_slot_uses, read_trials
from study.spec import DataSettings, StudySpec, SweepSettings
from study.sweep import create_study, run_study
from study.synthetic import SynthConfig, write_dataset

BACKBONE = "aligned_synclr"
# the demo-size sweep of --part startup and --part cells (per cell)
DEMO_SWEEP = {"num_samples": 6, "max_epochs": 12, "grace_period": 3, "max_concurrent": 2}


def sweep(
    root: Path, data: Path, name: str, backbones: tuple[str, ...] = (BACKBONE,), **settings: object
) -> Row:
    """Create and run one study; its trials and the slot use `study sweep` recorded for it."""
    spec = StudySpec(
        name=name,
        backbones=list(backbones),
        data=DataSettings(root=str(data), tune_subjects=[1]),
        sweep=SweepSettings(**settings),
    )
    directory = root / name
    create_study(spec, directory)
    run_study(directory)
    trials = [t for cell in spec.cells() for t in read_trials(directory / cell.key)]
    return Row(
        trials=len(trials),
        best_val_top1=max(t.history["val_top1"].max() for t in trials),
        use=read_slot_uses(directory)[-1],
    )


@dataclass
class Row:
    """One benchmarked sweep: its trial count, best validation top-1 and recorded slot use."""

    trials: int
    best_val_top1: float
    use: SlotUse

    @property
    def idle_share(self) -> float:
        """Slot time neither in epochs nor in start-up: slots waiting for the last trials."""
        use = self.use
        return 1.0 - _or_nan(use.utilisation) - use.first_share - use.later_share


@contextlib.contextmanager
def actor_reuse(reuse: bool) -> Iterator[None]:
    """Make the study's Tuner reuse its trial actors or not (``TuneConfig.reuse_actors``)."""
    from ray import tune

    real = tune.TuneConfig
    tune.TuneConfig = lambda **kw: real(**{**kw, "reuse_actors": reuse})  # type: ignore[misc]
    try:
        yield
    finally:
        tune.TuneConfig = real  # type: ignore[misc]


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _line(label: str, row: Row) -> str:
    use = row.use

    def startup(kind: str) -> str:
        total = getattr(use, f"{kind}_startup_s")
        if total is None:
            return "none"
        before, inside = getattr(use, f"{kind}_before_s"), getattr(use, f"{kind}_inside_s")
        return f"{total:5.2f} s ({before:.2f} before the trial function + {inside:.2f} in it)"

    utilisation = "n/a" if use.utilisation is None else f"{use.utilisation:.0%}"
    return (
        f"  {label:<20} trials {row.trials:>3}  epochs {use.epochs:>4}  "
        f"wall {use.seconds:>5.0f} s  utilisation {utilisation:>4}  "
        f"best val top-1 {row.best_val_top1:.3f}\n"
        f"  {'':<20} start-up: first trial of a slot {startup('first')}; "
        f"median after {startup('later')}; data {_or_nan(use.data_s):.3f} s"
    )


def small_twin(root: Path) -> Path:
    """The small twin (subject 1), with one 1-trial 2-epoch sweep run on it first, so that no
    measured sweep pays the driver's first imports or the first preparation of its data."""
    small = root / "small"
    if not small.exists():
        write_dataset(SynthConfig(out=small, scale="small", subjects=[1], images=False))
        sweep(root, small, "warm-up", num_samples=1, max_epochs=2, scheduler="none")
    return small


def startup(root: Path, args: argparse.Namespace) -> None:
    small = small_twin(root)
    rows = {}
    for reuse in (True, False):
        with actor_reuse(reuse):
            rows[reuse] = sweep(root, small, f"reuse{int(reuse)}", **DEMO_SWEEP)
    print("\nstart-up (demo-size sweep: small twin, subject 1, 6 trials x <= 12 epochs, 2 slots):")
    print(_line("actors reused", rows[True]))
    print(_line("fresh actor/trial", rows[False]))


def cells(root: Path, args: argparse.Namespace) -> None:
    """Two cells (an aligned pair) with the demo's budget each: their Tuners at once (what
    `study sweep` does) vs one after the other (``--concurrent-cells 1``), same 2 slots."""
    small = small_twin(root)
    pair = ("synclr", BACKBONE)
    rows = {
        at_once: sweep(root, small, f"cells{at_once}", pair, concurrent_cells=at_once, **DEMO_SWEEP)
        for at_once in (0, 1)
    }
    print("\ncells (small twin, subject 1, synclr + aligned_synclr, 6 trials x <= 12 epochs each):")
    print(_line("cells at once", rows[0]))
    print(_line("one after another", rows[1]))
    ratio = rows[0].use.seconds / rows[1].use.seconds
    print(f"  at once / one after another: wall time {ratio:.2f}")


def full_twin(root: Path) -> Path:
    """One full-scale subject (16540 training images), written once per benchmark run."""
    full = root / "full"
    if not full.exists():
        write_dataset(SynthConfig(out=full, scale="full", subjects=[1], images=False))
    return full


def length(root: Path, args: argparse.Namespace) -> None:
    """Utilisation as the sweep grows, actors reused: the demo's budget and the default study
    budget (SweepSettings' defaults: 12 trials x <= 30 epochs, ASHA, 2 slots) on the small twin,
    and the default budget on one full-scale subject; where the slot time not in epochs goes.
    The demo's budget also as one slot of 2 CPUs (one cold start, 2 threads per trial)."""
    small, full = small_twin(root), full_twin(root)
    sweep(root, full, "warm-up-full", num_samples=1, max_epochs=2, scheduler="none")
    rows = {
        "demo size, small": sweep(root, small, "len-demo", **DEMO_SWEEP),
        "demo, 1 slot/2 cpus": sweep(
            root, small, "len-one", **{**DEMO_SWEEP, "max_concurrent": 1}, cpus_per_trial=2.0
        ),
        "default, small": sweep(root, small, "len-small"),
        "default, full-scale": sweep(root, full, "len-full"),
    }
    print("\nlength (subject 1, TPE + ASHA, 2 slots, actors reused):")
    for label, row in rows.items():
        print(_line(label, row))
        use = row.use
        print(
            f"  {'':<20} slot time: epochs {_or_nan(use.utilisation):.0%}, first trial of a "
            f"slot's start-up {use.first_share:.0%}, later start-ups {use.later_share:.0%}, "
            f"idle (a slot waiting for the last trials) {row.idle_share:.0%}"
        )


class WorkerMemory:
    """Samples the summed PSS of Ray worker processes in a background thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for proc in psutil.process_iter(["cmdline"]):
                cmdline = " ".join(proc.info["cmdline"] or [])
                # Ray renames busy workers "ray::<actor or task>"; idle ones run default_worker.py
                if not (cmdline.startswith("ray::") or "default_worker.py" in cmdline):
                    continue
                try:
                    total += proc.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak = max(self.peak, total)
            time.sleep(0.5)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def search(root: Path, args: argparse.Namespace) -> None:
    small = small_twin(root)
    common = {"num_samples": args.trials, "max_epochs": args.epochs, "max_concurrent": 2}
    asha = sweep(root, small, "asha", scheduler="asha", sampler="tpe", grace_period=2, **common)
    rand = sweep(root, small, "random", scheduler="none", sampler="random", **common)
    print("\nsearch (small twin, subject 1, same trial count):")
    for label, row in (("TPE + ASHA", asha), ("random, full budget", rand)):
        print(_line(label, row))
    print(
        f"  ASHA / random: epochs {asha.use.epochs / rand.use.epochs:.2f}, "
        f"wall time {asha.use.seconds / rand.use.seconds:.2f}; "
        f"best top-1 difference: {asha.best_val_top1 - rand.best_val_top1:+.3f}"
    )


def memory(root: Path, args: argparse.Namespace) -> None:
    full = full_twin(root)
    peaks = {}
    for concurrent in (1, args.concurrent):
        with WorkerMemory() as sampled:
            sweep(
                root,
                full,
                f"mem{concurrent}",
                num_samples=concurrent,
                max_epochs=1,
                scheduler="none",
                max_concurrent=concurrent,
            )
        peaks[concurrent] = sampled.peak
    one, many = peaks[1], peaks[args.concurrent]
    print(f"\nmemory (full-scale subject, {args.concurrent} concurrent trials vs 1):")
    print(
        f"  peak worker PSS: 1 trial {one / 2**20:.0f} MiB, "
        f"{args.concurrent} trials {many / 2**20:.0f} MiB, ratio {many / one:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--concurrent", type=int, default=2)
    parts = {
        "startup": startup,
        "cells": cells,
        "search": search,
        "memory": memory,
        "length": length,
    }
    parser.add_argument("--part", choices=(*parts, "all"), default="all")
    args = parser.parse_args()
    init_ray(num_cpus=args.concurrent)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        for name, part in parts.items():
            if args.part in (name, "all"):
                part(Path(tmp), args)


if __name__ == "__main__":
    main()
