"""`study status`: per cell, trials finished/running/failed and the best one so far."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import TYPE_CHECKING

from study.commands.sweep import add_storage_arguments

if TYPE_CHECKING:
    from study.results import SlotUse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show a study's progress",
        description="Per cell (encoder x backbone, or backbone): trials finished, running, "
        "failed; best validation metric so far and its configuration. Reads the storage "
        "folder; no Ray needed.",
    )
    add_storage_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.results import (
        FAILED,
        FINISHED,
        best_trial,
        read_outcome,
        read_slot_uses,
        read_trials,
    )
    from study.spec import StudySpec, study_dir

    directory = study_dir(args.storage, args.name)
    spec = StudySpec.load(directory)
    metric, mode = spec.sweep.objective, spec.sweep.mode
    print(f"study '{spec.name}' in {directory}: objective {metric} ({mode})")
    for cell in spec.cells():
        key = cell.key
        tuned = sorted(spec.spaces.get(key, {}).get("params", {}))
        trials = read_trials(directory / key)
        counts = Counter(t.status for t in trials)
        state = "finished" if read_outcome(directory, key) else "in progress"
        if not trials:
            state = "not started"
        print(
            f"\n[{key}] {state}: {counts[FINISHED]} done, {counts['RUNNING']} running, "
            f"{counts['PENDING'] + counts['PAUSED']} waiting, {counts[FAILED]} failed "
            f"(budget {spec.sweep.num_samples})"
        )
        best = best_trial(key, trials, metric, mode)
        if best.trial is not None:
            params = ", ".join(f"{k}={_fmt(best.config.get(k))}" for k in tuned)
            print(
                f"  best {metric} {best.value:.4f} at epoch {best.epoch} "
                f"(trial {best.trial.trial_id}, {best.trial.status.lower()}): {params}"
            )
        for failed in (t for t in trials if t.status == FAILED):
            print(f"  failed trial {failed.trial_id}: {failed.error}")
        for retried in (t for t in trials if t.status != FAILED and t.error):
            print(
                f"  trial {retried.trial_id} was restarted ({_runs(retried.rows)}) "
                f"after: {retried.error.strip()}"
            )
    _print_slot_uses(read_slot_uses(directory))
    return 0


def _print_slot_uses(uses: list[SlotUse]) -> None:
    """Each finished `study sweep`/`resume` run: how it used its trial slots."""
    if uses:
        print("\nsweep runs (utilisation: time in training epochs / wall time x trial slots):")
    for use in uses:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(use.started_at))
        print(f"  {when}: {use.describe()}")


def _runs(rows: list[dict]) -> str:
    """Which epochs each run of a trial reported and on which node, e.g. 'epochs 1-2 on node
    73013e3b, epochs 3-16 on node 51152233' (a run starts at a row carrying ``started_at``)."""
    spans: list[list] = []  # [node, first epoch, last epoch]
    for row in rows:
        node = str(row.get("node_id", "?"))[:8]
        epoch = int(row.get("epoch", row["training_iteration"]))
        if spans and "started_at" not in row and spans[-1][0] == node:
            spans[-1][2] = epoch
        else:
            spans.append([node, epoch, epoch])
    return ", ".join(
        f"{f'epoch {a}' if a == b else f'epochs {a}-{b}'} on node {node}" for node, a, b in spans
    )


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
