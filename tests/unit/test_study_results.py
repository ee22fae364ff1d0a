"""study.results: the one best-trial picker, shared by the sweep, status, final and the report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from study.cli import main
from study.final import best_entries
from study.results import best_trial, best_trials, load_study, read_outcome, read_trials
from study.spec import StudySpec
from study.sweep import record_outcome
from tests.helpers.study_files import BACKBONES, make_study, write_experiment


def _trial(trial_id: str, values: list[float], metric: str, lr: float) -> dict[str, Any]:
    rows = [
        {"training_iteration": epoch, "epoch": float(epoch), metric: value}
        for epoch, value in enumerate(values, start=1)
    ]
    config = {"lr_encoder": lr, "latent_dim": 128}
    return {"trial_id": trial_id, "status": "TERMINATED", "config": config, "rows": rows}


def tied_trials(metric: str = "val_top1") -> list[dict[str, Any]]:
    """Three trials that reach the same best value: at epochs 1 (c), 2 (b) and 3 (a)."""
    high, low = (0.5, 0.1) if metric == "val_top1" else (0.5, 2.0)
    return [
        _trial("b", [low, high], metric, 0.002),
        _trial("c", [high, high], metric, 0.003),
        _trial("a", [low, low, high, high], metric, 0.001),
        _trial("d", [low], metric, 0.004),
    ]


@pytest.mark.parametrize(("metric", "mode"), [("val_top1", "max"), ("val_loss", "min")])
def test_a_tie_goes_to_the_lowest_trial_id_at_its_first_best_epoch(
    tmp_path: Path, metric: str, mode: str
) -> None:
    write_experiment(tmp_path / "exp", tied_trials(metric))
    records = read_trials(tmp_path / "exp")
    for order in (records, records[::-1], records[1:] + records[:1]):
        best = best_trial("synclr", order, metric, mode)
        assert best.trial is not None and best.trial.trial_id == "a"
        assert (best.value, best.epoch) == (0.5, 3)
        assert best.config["lr_encoder"] == 0.001
        assert best.trials_run == 4


def test_no_reported_objective_means_no_best(tmp_path: Path) -> None:
    write_experiment(tmp_path / "exp", [_trial("a", [0.5], "val_loss", 0.001)])
    best = best_trial("synclr", read_trials(tmp_path / "exp"), "val_top1", "max")
    assert best.trial is None and best.value is None and best.epoch is None and best.config == {}


def test_the_sweep_records_the_best_the_report_status_and_final_pick_on_a_tie(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = make_study(tmp_path, final=False)
    study_dir = storage / "demo"
    spec = StudySpec.load(study_dir)
    for backbone in BACKBONES:
        shutil.rmtree(study_dir / backbone)
        write_experiment(study_dir / backbone, tied_trials())
        outcome = record_outcome(
            spec, study_dir, spec.cell(backbone), trials=4, errors=0, seconds=1.0
        )
        assert read_outcome(study_dir, backbone) == outcome
    entries = best_entries(study_dir)
    assert main(["status", "--name", "demo", "--storage", str(storage)]) == 0
    status = capsys.readouterr().out
    for best in best_trials(load_study(storage, "demo")):
        outcome = read_outcome(study_dir, best.backbone)
        assert outcome is not None and best.trial is not None
        assert (outcome.best_value, outcome.best_config) == (best.value, best.config)
        assert entries[best.backbone]["trial_id"] == best.trial.trial_id == "a"
        assert entries[best.backbone]["best_epoch"] == best.epoch == 3
    assert status.count("best val_top1 0.5000 at epoch 3 (trial a, terminated)") == len(BACKBONES)


def test_a_state_file_being_rewritten_is_skipped_for_the_previous_one(tmp_path: Path) -> None:
    exp_dir = tmp_path / "synclr"
    row = {"training_iteration": 1, "val_top1": 0.5}
    write_experiment(exp_dir, [{"trial_id": "a", "status": "RUNNING", "config": {}, "rows": [row]}])
    (exp_dir / "experiment_state-2025-01-02_00-00-00.json").write_bytes(b"")  # mid-rewrite
    (trial,) = read_trials(exp_dir)
    assert trial.trial_id == "a" and trial.history["val_top1"].tolist() == [0.5]
