"""`study status` tells which trials were restarted, where each run ran and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.cli import main
from tests.helpers.study_files import make_study

WORKER, HEAD = "73013e3b" + "a" * 48, "51152273" + "b" * 48


def _row(epoch: int, node: str, first: bool) -> dict:
    row = {"training_iteration": epoch, "epoch": float(epoch), "val_top1": 0.1, "node_id": node}
    return row | ({"started_at": 1.0e9, "startup_first_report_s": 2.0} if first else {})


def test_status_names_the_runs_of_a_restarted_trial_and_its_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = make_study(tmp_path, final=False)
    logdir = sorted((storage / "demo" / "synclr").glob("trial_*"))[0]
    rows = [_row(1, WORKER, True), _row(2, WORKER, False), _row(3, HEAD, True)]
    rows += [_row(3, WORKER, True)] + [_row(e, WORKER, False) for e in (4, 5)]
    (logdir / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (logdir / "error.txt").write_text(
        "Failure # 1 (occurred at 2026-12-03_02-05-50)\nThe actor died unexpectedly.\n"
        "\tthe actor's node was terminated unexpectedly: health check failed\n"
    )
    assert main(["status", "--name", "demo", "--storage", str(storage)]) == 0
    printed = capsys.readouterr().out
    trial_id = logdir.name.removeprefix("trial_")
    assert (
        f"trial {trial_id} was restarted (epochs 1-2 on node 73013e3b, epoch 3 on node 51152273, "
        "epochs 3-5 on node 73013e3b) after: the actor's node was terminated unexpectedly: "
        "health check failed"
    ) in printed
    assert printed.count("was restarted") == 1  # trials without an error file are not listed
