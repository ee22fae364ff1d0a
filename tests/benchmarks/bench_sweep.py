"""Sweep benchmark on the synthetic twin, side by side in one run.

1. Search: Optuna TPE + ASHA vs full-budget random search (no early stopping) at the same trial
   count: epochs spent and best validation top-1 reached by each.
2. Memory: peak proportional set size (PSS: shared pages split between the processes sharing
   them) of all Ray worker processes while N trials run at once vs one, on one full-scale
   subject; the prepared data is shared through the object store, not copied per trial.

Run: uv run python tests/benchmarks/bench_sweep.py [--trials 8] [--epochs 12] [--concurrent 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil

from study.ray_runtime import init_ray
from study.results import read_trials
from study.spec import DataSettings, StudySpec, SweepSettings
from study.sweep import create_study, run_study
from study.synthetic import SynthConfig, write_dataset

BACKBONE = "aligned_synclr"


def sweep(root: Path, data: Path, name: str, **settings: object) -> dict[str, float]:
    spec = StudySpec(
        name=name,
        backbones=[BACKBONE],
        data=DataSettings(root=str(data), tune_subjects=[1]),
        sweep=SweepSettings(**settings),
    )
    directory = root / name
    create_study(spec, directory)
    start = time.monotonic()
    run_study(directory)
    seconds = time.monotonic() - start
    trials = read_trials(directory / BACKBONE)
    return {
        "trials": len(trials),
        "epochs": sum(t.epochs for t in trials),
        "best_val_top1": max(t.history["val_top1"].max() for t in trials),
        "seconds": seconds,
    }


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
    config = SynthConfig(out=root / "small", scale="small", subjects=[1], images=False)
    small = write_dataset(config)
    common = {"num_samples": args.trials, "max_epochs": args.epochs, "max_concurrent": 2}
    asha = sweep(root, small, "asha", scheduler="asha", sampler="tpe", grace_period=2, **common)
    rand = sweep(root, small, "random", scheduler="none", sampler="random", **common)
    print("\nsearch (small twin, subject 1, same trial count):")
    for label, row in (("TPE + ASHA", asha), ("random, full budget", rand)):
        print(
            f"  {label:<20} trials {row['trials']:>3}  epochs spent {row['epochs']:>4}  "
            f"best val top-1 {row['best_val_top1']:.3f}  ({row['seconds']:.0f} s)"
        )
    print(
        f"  epochs ratio (ASHA / random): {asha['epochs'] / rand['epochs']:.2f}; "
        f"best top-1 difference: {asha['best_val_top1'] - rand['best_val_top1']:+.3f}"
    )


def memory(root: Path, args: argparse.Namespace) -> None:
    full = write_dataset(SynthConfig(out=root / "full", scale="full", subjects=[1], images=False))
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
    parser.add_argument("--part", choices=("search", "memory", "both"), default="both")
    args = parser.parse_args()
    init_ray(num_cpus=args.concurrent)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        if args.part != "memory":
            search(Path(tmp), args)
        if args.part != "search":
            memory(Path(tmp), args)


if __name__ == "__main__":
    main()
