"""Study sweeps: spec validation, a tiny real sweep with ASHA, kill -9 and resume."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from study.cli import main
from study.results import (
    FINISHED,
    best_trials,
    load_study,
    read_outcome,
    read_slot_uses,
    read_trials,
)
from study.spec import DataSettings, StudySpec, SweepSettings
from study.sweep import create_study, run_study, tuning_data
from trainables.common.errors import ConfigError, DataError
from trainables.tune import trainable as ray_trainable
from trainables.tune.shared_data import SharedEEGData, share_eeg

BACKBONES = ["synclr", "aligned_synclr"]


def tiny_spec(twin: Path, name: str = "tiny", **sweep: object) -> StudySpec:
    settings = {"num_samples": 2, "max_epochs": 2, "grace_period": 1, "max_concurrent": 2}
    settings.update(sweep)
    return StudySpec(
        name=name,
        backbones=list(BACKBONES),
        data=DataSettings(root=str(twin), tune_subjects=[1, 2]),
        sweep=SweepSettings(**settings),
        train={"batch_size": 64, "latent_dim": 64},
    )


def test_spec_round_trip_keeps_resolved_spaces_and_provenance(twin: Path, tmp_path: Path) -> None:
    spec = create_study(tiny_spec(twin), tmp_path / "tiny")
    loaded = StudySpec.load(tmp_path / "tiny")
    assert loaded == spec
    assert set(loaded.spaces) == set(BACKBONES)
    assert "lr_encoder" in loaded.spaces["synclr"]["params"]
    assert loaded.provenance["packages"]["ray"]
    assert yaml.safe_load((tmp_path / "tiny" / "study.yaml").read_text())["name"] == "tiny"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backbones": []}, "no backbones"),
        ({"backbones": ["synclr", "synclr"]}, "listed twice"),
        ({"name": "a/b"}, "invalid study name"),
        ({"sweep": SweepSettings(grace_period=5, max_epochs=2)}, "grace_period"),
        ({"sweep": SweepSettings(objective="val_top9")}, "objective"),
        ({"space": "nonexistent_preset"}, "nonexistent_preset"),
        ({"train": {"no_such_field": 1}}, "no_such_field"),
    ],
)
def test_invalid_study_is_refused_before_anything_starts(
    twin: Path, tmp_path: Path, change: dict, message: str
) -> None:
    spec = tiny_spec(twin)
    for key, value in change.items():
        setattr(spec, key, value)
    with pytest.raises(ConfigError, match=message):
        create_study(spec, tmp_path / "s")
    assert not (tmp_path / "s" / "study.yaml").exists()


def test_missing_store_or_subject_is_a_data_error(twin: Path, tmp_path: Path) -> None:
    spec = tiny_spec(twin)
    spec.backbones = ["synclr", "dino"]
    with pytest.raises(DataError, match="dino"):
        create_study(spec, tmp_path / "a")
    spec = tiny_spec(twin)
    spec.data.tune_subjects = [7]
    with pytest.raises(DataError, match=r"\[7\]"):
        create_study(spec, tmp_path / "b")


def test_existing_study_name_is_refused(twin: Path, tmp_path: Path) -> None:
    create_study(tiny_spec(twin), tmp_path / "tiny")
    with pytest.raises(ConfigError, match="study resume"):
        create_study(tiny_spec(twin), tmp_path / "tiny")


def test_backbones_share_one_copy_of_the_tuning_eeg(ray_session: None, twin: Path) -> None:
    spec = tiny_spec(twin)
    base, aligned = (tuning_data(spec, backbone) for backbone in BACKBONES)
    shared = share_eeg(base)
    rebuilt = SharedEEGData.from_data(aligned, shared).resolve()
    assert rebuilt.backbone == "aligned_synclr" and rebuilt.test is None
    for name in ("train", "val"):
        mine, theirs = getattr(rebuilt, name), getattr(aligned, name)
        assert np.array_equal(mine.eeg, theirs.eeg)
        assert np.array_equal(mine.embeddings, theirs.embeddings)
        assert not mine.eeg.flags.writeable  # a zero-copy view of the object store
    spec.data.val_seed = 1
    with pytest.raises(ValueError, match="not obtained like the shared EEG"):
        SharedEEGData.from_data(tuning_data(spec, "aligned_synclr"), shared)


def test_tiny_sweep_with_asha_runs_every_backbone(
    ray_session: None,
    twin: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = tmp_path / "tiny"
    # half a CPU per trial: Ray would run 4 at once; the study's bound is 2 over both cells
    create_study(tiny_spec(twin, num_samples=3, max_epochs=2, cpus_per_trial=0.5), directory)
    with caplog.at_level("INFO", logger="study"):
        outcomes = run_study(directory)
    assert "sweeping 2 cells at once" in caplog.text
    assert re.search(r"at most [12] trials ran at once \(bound 2\)", caplog.text)
    assert [o.backbone for o in outcomes] == BACKBONES
    proposals = []
    for outcome in outcomes:
        assert outcome.trials == 3 and outcome.errors == 0
        trials = read_trials(directory / outcome.backbone)
        assert len(trials) == 3 and all(t.status == FINISHED for t in trials)
        best = max(t.history["val_top1"].max() for t in trials)
        assert outcome.best_value == pytest.approx(best)
        for trial in trials:
            assert 1 <= trial.epochs <= 2
            assert trial.history["val_top1"].between(0, 1).all()
            assert trial.config["batch_size"] == 64 and trial.config["epochs"] == 2
        assert list((directory / outcome.backbone).glob("trial_*/events.out.tfevents*"))
        proposals.append(sorted(t.config["lr_encoder"] for t in trials))
        assert read_outcome(directory, outcome.backbone) == outcome
    assert proposals[0] == proposals[1], "same seed -> same (random start-up) proposals"
    for best in best_trials(load_study(tmp_path, "tiny")):  # the report's pick is the sweep's
        recorded = read_outcome(directory, best.backbone)
        assert recorded is not None
        assert (recorded.best_value, recorded.best_config) == (best.value, best.config)
    capsys.readouterr()
    assert main(["status", "--name", "tiny", "--storage", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("3 done") == 2 and "best val_top1" in printed
    (use,) = read_slot_uses(directory)  # the sweep's use of its 2 study-wide trial slots
    assert (use.slots, use.runs) == (2, 6)
    assert use.epochs == sum(t.epochs for b in BACKBONES for t in read_trials(directory / b))
    assert use.utilisation is not None and 0.0 < use.utilisation <= 1.0
    assert use.first_startup_s is not None and use.first_share > 0.0
    assert f"this sweep: {use.describe()}" in caplog.text
    assert f"utilisation {use.utilisation:.0%}" in printed


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_killed_sweep_resumes_without_losing_or_rerunning_trials(
    twin: Path, tmp_path: Path
) -> None:
    """SIGKILL of a study driver sweeping its cells at once, as soon as a trial is recorded
    finished: the kill lands mid-cell or between cells (trials at this scale take under a
    second), and in either case resuming completes every budget without re-running a trial."""
    storage = tmp_path / "studies"
    command = [sys.executable, "-m", "study.cli"]
    flags = ["--name", "k", "--storage", str(storage)]
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    sweep = [
        *command, "sweep", "--data", str(twin), "--backbones", ",".join(BACKBONES),
        "--num-samples", "3", "--max-epochs", "2", "--scheduler", "none",
        "--max-concurrent", "1", "--tune-subjects", "1", *flags,
    ]  # fmt: skip
    driver = subprocess.Popen(sweep, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finished() -> dict[str, pd.DataFrame]:
        cells = [storage / "k" / backbone for backbone in BACKBONES]
        return {
            t.trial_id: t.history for c in cells for t in read_trials(c) if t.status == FINISHED
        }

    try:
        assert _wait_for(lambda: finished(), timeout=240), "sweep made no progress"
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    before = finished()
    assert before and None in [read_outcome(storage / "k", b) for b in BACKBONES]

    resumed = subprocess.run(
        [*command, "resume", *flags], env=env, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (use,) = read_slot_uses(storage / "k")  # the killed sweep recorded none; the resume one
    assert use.slots == 1 and 1 <= use.runs < 6 and use.utilisation is not None
    after = {}
    for backbone in BACKBONES:
        trials = read_trials(storage / "k" / backbone)
        assert len(trials) == 3, [t.trial_id for t in trials]
        assert all(t.status == FINISHED and t.epochs == 2 for t in trials)
        assert read_outcome(storage / "k", backbone).trials == 3
        after.update({t.trial_id: t.history for t in trials})
    cols = ["training_iteration", "val_top1", "val_loss", "train_loss"]
    for trial_id, history in before.items():
        assert after[trial_id][cols].equals(history[cols]), f"trial {trial_id} was re-run"


@pytest.mark.extended
def test_wandb_logging_works_offline(twin: Path, tmp_path: Path) -> None:
    wandb_dir = tmp_path / "wandb"
    wandb_dir.mkdir()
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(wandb_dir), "WANDB_SILENT": "1"}
    sweep = [
        sys.executable, "-m", "study.cli", "sweep", "--data", str(twin), "--backbones", "synclr",
        "--name", "w", "--storage", str(tmp_path / "studies"), "--num-samples", "1",
        "--max-epochs", "1", "--grace-period", "1", "--tune-subjects", "1",
        "--wandb", "--wandb-project", "eeg-test", "--wandb-tags", "ci,offline",
    ]  # fmt: skip
    done = subprocess.run(sweep, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = list((wandb_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    assert b"val_top1" in runs[0].read_bytes()
    spec = StudySpec.load(tmp_path / "studies" / "w")
    assert spec.wandb.enabled and spec.wandb.tags == ["ci", "offline"]


class AlwaysCrash(ray_trainable.RayReporter):
    """A reporter that makes every epoch of a trial crash (a trial that fails for good)."""

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        raise RuntimeError("injected failure")


def test_failed_trials_are_reported_and_do_not_sink_the_study(
    ray_session: None,
    twin: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = ray_trainable.make_trainable

    def crashing_for_synclr(data, **kwargs):
        if data.backbone == "synclr":
            kwargs["reporter"] = AlwaysCrash()
        return real(data, **kwargs)

    monkeypatch.setattr(ray_trainable, "make_trainable", crashing_for_synclr)
    directory = tmp_path / "f"
    # one cell after the other, in this process: the patched make_trainable is seen
    spec = tiny_spec(twin, name="f", num_samples=1, max_epochs=1, max_failures=1)
    spec.sweep.concurrent_cells = 1
    create_study(spec, directory)
    failed, fine = run_study(directory)
    assert (failed.trials, failed.errors, failed.best_value) == (1, 1, None)
    assert (fine.trials, fine.errors) == (1, 0) and fine.best_value is not None
    capsys.readouterr()
    assert main(["status", "--name", "f", "--storage", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "1 failed" in printed and "injected failure" in printed


def test_sweep_joins_a_running_cluster_and_shares_one_gpu_between_trials(
    ray_session: None, twin: Path, tmp_path: Path
) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    sweep = [
        sys.executable, "-m", "study.cli", "sweep", "--data", str(twin), "--backbones", "synclr",
        "--name", "g", "--storage", str(tmp_path), "--num-samples", "2", "--max-epochs", "2",
        "--scheduler", "none", "--tune-subjects", "1", "--address", address,
        "--cpus-per-trial", "1", "--gpus-per-trial", "0.5", "--max-concurrent", "2",
    ]  # fmt: skip
    done = subprocess.run(sweep, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Started a local Ray instance" not in done.stderr  # it joined the running cluster
    trials = read_trials(tmp_path / "g" / "synclr")
    assert len(trials) == 2 and all(t.status == FINISHED for t in trials)
    state = json.loads(max((tmp_path / "g" / "synclr").glob("experiment_state-*.json")).read_text())
    for trial_json, _ in state["trial_data"]:
        resources = pickle.loads(bytes.fromhex(json.loads(trial_json)["placement_group_factory"]))
        assert resources.required_resources == {"CPU": 1.0, "GPU": 0.5}
    spans = [
        (t.history["timestamp"].min() - t.history["time_this_iter_s"].iloc[0],
         t.history["timestamp"].max())
        for t in trials
    ]  # fmt: skip
    (start_a, end_a), (start_b, end_b) = spans
    assert start_a < end_b and start_b < end_a, "both half-GPU trials ran at once on one GPU"
