"""Wall time and imports of `study --help` and `study status`, now and at an earlier commit.

Both commands run as subprocesses (the venv's ``study`` script, median of --repeats runs,
interleaved so both trees see the same load) against a small fake study folder written here
file by file (study.yaml and two Ray Tune experiment folders, no Ray). With --before REV the same
commands run on a ``git worktree`` of REV through PYTHONPATH, same venv, in the same run. Then
``python -X importtime`` lists each command's costliest top-level imports.

    uv run python tests/benchmarks/bench_cli.py [--before REV] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from search_spaces.presets import preset  # noqa: E402

STUDY = Path(sys.executable).with_name("study")
BACKBONES = ["synclr", "aligned_synclr"]
HEAVY = ("torch", "ray", "scipy", "pandas", "optuna", "numpy", "pydantic")


def write_fake_study(storage: Path, trials: int = 6, epochs: int = 3) -> None:
    """``storage/bench``: study.yaml (in the oldest format every version reads) + experiments."""
    study_dir = storage / "bench"
    study_dir.mkdir(parents=True)
    space = preset("seed").to_dict()
    spec = {
        "name": "bench",
        "backbones": BACKBONES,
        "data": {"root": str(storage / "data"), "tune_subjects": [1]},
        "sweep": {"num_samples": trials, "max_epochs": epochs},
        "space": "seed",
        "spaces": {b: space for b in BACKBONES},
    }
    (study_dir / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for backbone in BACKBONES:
        exp_dir = study_dir / backbone
        exp_dir.mkdir()
        trial_data = []
        for i in range(trials):
            logdir = exp_dir / f"trial_t{i:03d}"
            logdir.mkdir()
            config = {"lr_encoder": 0.008 + 0.001 * i, "latent_dim": 256}
            record = {
                "trial_id": f"t{i:03d}",
                "status": "TERMINATED",
                "config": config,
                "relative_logdir": logdir.name,
            }
            trial_data.append([json.dumps(record), "{}"])
            rows = [
                {
                    "epoch": float(e),
                    "training_iteration": e,
                    "train_loss": 2.0 / e,
                    "val_loss": 2.5 / e,
                    "val_top1": 0.01 * (i + e),
                    "val_top5": 0.05 * (i + e),
                    "val_chance_top1": 0.05,
                    "val_chance_top5": 0.25,
                }
                for e in range(1, epochs + 1)
            ]
            (logdir / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        state = exp_dir / "experiment_state-2025-01-01_00-00-00.json"
        state.write_text(json.dumps({"trial_data": trial_data}))


def tree_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def wall(tree: Path, argv: list[str]) -> float:
    """Seconds one ``study ARGV`` subprocess takes; it must succeed."""
    start = time.perf_counter()
    subprocess.run(
        [str(STUDY), *argv], env=tree_env(tree), cwd=tree, check=True, capture_output=True
    )
    return time.perf_counter() - start


def loaded_heavy(tree: Path, argv: list[str]) -> list[str]:
    """Which heavy packages ``study ARGV`` leaves in sys.modules."""
    code = (
        "import sys\nfrom study.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=tree_env(tree), cwd=tree, capture_output=True, text=True
    )
    return out.stdout.splitlines()[-1].split()[1:]


def top_imports(tree: Path, argv: list[str], n: int) -> tuple[float, list[tuple[float, str]]]:
    """Total import seconds and the ``n`` costliest top-level imports of ``study ARGV``."""
    code = f"from study.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=tree_env(tree),
        cwd=tree,
        capture_output=True,
        text=True,
    )
    entries = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # top level: one space before the name
            entries.append((int(cumulative) / 1e6, name.strip()))
    entries.sort(reverse=True)
    return sum(s for s, _ in entries), entries[:n]


def worktree(rev: str, parent: Path) -> Path:
    path = parent / "before"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
        check=True,
        capture_output=True,
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="git revision to compare with (e.g. a commit id)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per command and tree")
    parser.add_argument("--top", type=int, default=6, help="top-level imports listed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) / "studies"
        write_fake_study(storage)
        commands = {
            "study --help": ["--help"],
            "study status": ["status", "--name", "bench", "--storage", str(storage)],
        }
        trees = {"now": ROOT}
        if args.before:
            trees = {f"before ({args.before})": worktree(args.before, Path(tmp)), **trees}
        try:
            times: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repeats):
                for label, argv in commands.items():
                    for tree_name, tree in trees.items():
                        times.setdefault((label, tree_name), []).append(wall(tree, argv))
            print(f"wall time, median of {args.repeats} (min-max), {STUDY}:\n")
            for label, argv in commands.items():
                medians = []
                for tree_name, tree in trees.items():
                    runs = times[(label, tree_name)]
                    medians.append(statistics.median(runs))
                    heavy = " ".join(loaded_heavy(tree, argv)) or "-"
                    print(
                        f"  {label:<14} {tree_name:<22} {medians[-1]:6.2f} s "
                        f"({min(runs):.2f}-{max(runs):.2f})  loads: {heavy}"
                    )
                if len(medians) == 2:
                    print(f"  {label:<14} {'before / now':<22} {medians[0] / medians[1]:6.1f}x")
            print("\ncostliest top-level imports (python -X importtime, cumulative):")
            for label, argv in commands.items():
                for tree_name, tree in trees.items():
                    total, top = top_imports(tree, argv, args.top)
                    shown = ", ".join(f"{name} {s:.2f}" for s, name in top)
                    print(f"  {label:<14} {tree_name:<22} {total:5.2f} s: {shown}")
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                        check=False,
                        capture_output=True,
                    )


if __name__ == "__main__":
    main()
