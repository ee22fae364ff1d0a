"""Study folders that cannot bite: no reader unpickles, restores check the trust boundary,
a lost experiment state stops the study, one lock per study, and a failed final saves nothing."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from study import sweep, trust
from study.cli import main
from study.lock import study_lock
from study.ray_runtime import restore_tuner
from study.spec import DataSettings, StudySpec, SweepSettings
from tests.helpers.study_files import make_study, write_experiment
from trainables.common.errors import ConfigError, DataError
from trainables.training.config import TrainConfig

STATE = "experiment_state-2025-01-01_00-00-00.json"


class Trap:
    """Unpickling this creates ``marker`` (a stand-in for os.system)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def trap(exp_dir: Path, marker: Path) -> None:
    """Booby-trap an experiment folder in every place Ray unpickles on restore."""
    payload = pickle.dumps(Trap(marker))
    (exp_dir / "tuner.pkl").write_bytes(payload)
    (exp_dir / "searcher-state-2025-01-01_00-00-00.pkl").write_bytes(payload)
    (exp_dir / "search_gen_state-2025-01-01_00-00-00.json").write_bytes(payload)
    fallback = {"_type": "CLOUDPICKLE_FALLBACK", "value": payload.hex()}
    path = exp_dir / STATE
    state = json.loads(path.read_text())
    trials = []
    for trial_json, runtime in state["trial_data"]:
        trial = json.loads(trial_json)
        trial["config"]["callback"] = fallback
        trial["placement_group_factory"] = payload.hex()
        (exp_dir / trial["relative_logdir"] / "error.pkl").write_bytes(payload)
        trials.append([json.dumps(trial), runtime])
    path.write_text(json.dumps({"trial_data": trials, "runner_data": fallback}))


def test_the_traps_are_live(tmp_path: Path) -> None:
    """Positive control: Ray's own readers would run each trap."""
    from ray.tune.utils.serialization import _loads_with_cloudpickle

    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Trap(marker)))
    assert marker.exists()
    marker.unlink()
    exp_dir = tmp_path / "exp"
    write_experiment(exp_dir, [{"trial_id": "a", "status": "ERROR", "config": {}, "rows": []}])
    trap(exp_dir, marker)
    _loads_with_cloudpickle((exp_dir / STATE).read_text())
    assert marker.exists()


def test_status_report_and_export_best_never_unpickle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = make_study(tmp_path)
    marker = tmp_path / "ran"
    study = storage / "demo"
    for exp_dir in (study / "synclr", study / "aligned_synclr", study / "final" / "runs"):
        trap(exp_dir, marker)
    flags = ["--name", "demo", "--storage", str(storage)]
    assert main(["status", *flags]) == 0
    assert "best val_top1" in capsys.readouterr().out
    assert main(["report", *flags, "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").is_file()
    assert main(["export-best", *flags, "--out", str(tmp_path / "best.yaml")]) == 0
    assert set(yaml.safe_load((tmp_path / "best.yaml").read_text())["backbones"]) == {
        "synclr",
        "aligned_synclr",
    }
    assert not marker.exists()


@pytest.fixture(scope="module")
def twin(synth_twin: Callable[..., Path]) -> Path:
    return synth_twin(scale="tiny", images=False, backbones=["synclr"])


def final_study(storage: Path, twin: Path, *, finished: bool = True) -> tuple[Path, list[str]]:
    """A configs-only final of ``synclr`` (subject 1, seeds 0-1) as left on disk, and its
    `study final` command line; with ``finished=False`` one run is still running."""
    config = TrainConfig(epochs=1).to_dict()
    configs_file = storage.parent / "best.yaml"
    configs_file.write_text(yaml.safe_dump({"backbones": {"synclr": {"config": config}}}))
    study = storage / "fin"
    StudySpec(name="fin", backbones=["synclr"], data=DataSettings(root=str(twin))).save(study)
    row = {"training_iteration": 1, "test_top1": 0.5, "test_top3": 0.7, "test_top5": 0.9}
    trials = [
        {
            "trial_id": f"r{seed}",
            "status": "TERMINATED" if finished or seed == 0 else "RUNNING",
            "config": {"backbone": "synclr", "subject": 1, "seed": seed},
            "rows": [row] if finished or seed == 0 else [],
        }
        for seed in (0, 1)
    ]
    write_experiment(study / "final" / "runs", trials)
    settings = {"protocol": "intra", "seeds": [0, 1], "subjects": [1]}
    document = {**settings, "configs": {"synclr": config}, "data": {}}
    (study / "final" / "final.yaml").write_text(yaml.safe_dump(document))
    command = ["final", "--name", "fin", "--storage", str(storage), "--configs", str(configs_file)]
    return study, [*command, "--data", str(twin), "--subjects", "1", "--seeds", "2"]


def test_final_configs_reads_runs_without_unpickling(
    twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, command = final_study(tmp_path / "studies", twin)
    marker = tmp_path / "ran"
    trap(study / "final" / "runs", marker)
    assert main(command) == 0
    assert "finished before" in capsys.readouterr().err
    assert not marker.exists()


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The error, stderr's last line; the lines before it are logged progress messages."""
    stderr = capsys.readouterr().err
    *logged, err = stderr.strip().splitlines()
    assert err.startswith("error: "), stderr
    assert not any(line.startswith(("error: ", "Traceback")) for line in logged), stderr
    return err


def test_final_restore_of_a_tampered_folder_is_refused_before_unpickling(
    twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, command = final_study(tmp_path / "studies", twin, finished=False)
    runs = study / "final" / "runs"
    marker = tmp_path / "ran"
    trap(runs, marker)
    os.chmod(runs / "tuner.pkl", 0o646)
    assert main(command) == 2
    assert "tuner.pkl: writable by group or others" in one_line_error(capsys)
    assert not marker.exists()


@pytest.fixture
def experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A restorable sweep experiment (2 trials) in ``tmp_path/study/synclr``; private digests."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    exp_dir = tmp_path / "study" / "synclr"
    trials = [{"trial_id": t, "status": "TERMINATED", "config": {}, "rows": []} for t in ("a", "b")]
    write_experiment(exp_dir, trials)
    (exp_dir / "tuner.pkl").write_bytes(pickle.dumps({}))
    (exp_dir / "searcher-state-2025-01-01_00-00-00.pkl").write_bytes(pickle.dumps({}))
    (exp_dir / "search_gen_state-2025-01-01_00-00-00.json").write_bytes(pickle.dumps({}))
    return exp_dir


def test_trusted_folder_passes_and_returns_the_kept_trials(experiment: Path) -> None:
    assert trust.check_restore(experiment.parent, experiment) == {
        "a": "TERMINATED",
        "b": "TERMINATED",
    }


@pytest.mark.parametrize(
    ("target", "mode"), [(".", 0o775), ("synclr", 0o757), ("synclr/trial_a", 0o777)]
)
def test_group_or_other_writable_folders_are_refused(
    experiment: Path, target: str, mode: int
) -> None:
    os.chmod(experiment.parent / target, mode)
    with pytest.raises(ConfigError, match="writable by group or others"):
        trust.check_restore(experiment.parent, experiment)


def test_files_of_another_user_and_symlinks_are_refused(
    experiment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher = experiment / "searcher-state-2025-01-01_00-00-00.pkl"
    real_uid = os.geteuid()
    monkeypatch.setattr(trust, "current_uid", lambda: real_uid + 1)
    with pytest.raises(ConfigError, match=f"owned by uid {real_uid}, not by you"):
        trust.check_restore(experiment.parent, experiment)
    monkeypatch.undo()
    searcher.unlink()
    searcher.symlink_to(experiment / "tuner.pkl")
    with pytest.raises(ConfigError, match="symbolic link"):
        trust.check_restore(experiment.parent, experiment)


def test_recorded_digests_catch_changed_and_new_state_files(experiment: Path) -> None:
    trust.record_digests(experiment)
    record = trust.digest_record(experiment)
    assert record.stat().st_mode & 0o777 == 0o600
    trust.check_restore(experiment.parent, experiment)
    searcher = experiment / "searcher-state-2025-01-01_00-00-00.pkl"
    searcher.write_bytes(pickle.dumps({"changed": True}))
    with pytest.raises(ConfigError, match="searcher-state-.*changed after the last driver"):
        trust.check_restore(experiment.parent, experiment)
    trust.record_digests(experiment)
    (experiment / "trial_a" / "error.pkl").write_bytes(pickle.dumps({}))
    with pytest.raises(ConfigError, match="error.pkl: appeared after the last driver"):
        trust.check_restore(experiment.parent, experiment)
    trust.forget_digests(experiment)  # a driver killed with SIGKILL leaves no record
    trust.check_restore(experiment.parent, experiment)


def test_damaged_or_missing_state_is_refused_instead_of_a_silent_restart(
    experiment: Path,
) -> None:
    search = experiment / "search_gen_state-2025-01-01_00-00-00.json"
    search.rename(experiment.parent / search.name)
    with pytest.raises(DataError, match="no searcher state .* more trials than the budget"):
        trust.check_restore(experiment.parent, experiment)
    (experiment.parent / search.name).rename(search)
    (experiment / STATE).write_text('{"trial_data": [["{not json')
    with pytest.raises(DataError, match="damaged experiment state"):
        trust.check_restore(experiment.parent, experiment)
    (experiment / STATE).unlink()
    with pytest.raises(DataError, match="trial folders but no experiment_state"):
        trust.check_restore(experiment.parent, experiment)
    write_experiment(
        experiment.parent / "other",
        [{"trial_id": "a", "status": "TERMINATED", "config": {}, "rows": []}],
    )
    with pytest.raises(DataError, match="trial folders but no tuner.pkl"):
        trust.check_restore(experiment.parent, experiment.parent / "other")


def test_fewer_or_more_trials_than_the_budget_or_vanished_trials_stop_the_study(
    experiment: Path,
) -> None:
    kept = trust.read_state(experiment)
    assert trust.check_complete(experiment, 2, kept) == kept
    with pytest.raises(DataError, match="2 of 3 trials ran"):
        trust.check_complete(experiment, 3, kept)
    with pytest.raises(DataError, match="2 trials ran for a budget of 1"):
        trust.check_complete(experiment, 1, kept)
    with pytest.raises(DataError, match="trial\\(s\\) z vanished"):
        trust.check_complete(experiment, 2, {**kept, "z": "TERMINATED"})
    write_experiment(
        experiment.parent / "live",
        [{"trial_id": "a", "status": "RUNNING", "config": {}, "rows": []}],
    )
    with pytest.raises(KeyboardInterrupt):
        trust.check_complete(experiment.parent / "live", 1, {})


class RestartingTuner:
    """A Tuner whose fit() behaves like Ray after a lost state: one fresh trial, then done."""

    def __init__(self, exp_dir: Path) -> None:
        self.exp_dir = exp_dir

    def fit(self) -> None:
        write_experiment(
            self.exp_dir, [{"trial_id": "new", "status": "TERMINATED", "config": {}, "rows": []}]
        )


def test_a_sweep_that_ran_part_of_its_budget_is_not_marked_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainables.tune import trainable as ray_trainable

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    study = tmp_path / "s"
    spec = StudySpec(name="s", backbones=["synclr"], sweep=SweepSettings(num_samples=2))
    monkeypatch.setattr(ray_trainable, "make_trainable", lambda *a, **k: None)
    monkeypatch.setattr(sweep, "_tuner", lambda *a: RestartingTuner(study / "synclr"))
    with pytest.raises(DataError, match="1 of 2 trials ran"):
        sweep.run_cell(spec, study, spec.cell("synclr"), SimpleNamespace(backbone="synclr"))
    assert sweep.read_outcome(study, "synclr") is None
    assert trust.digest_record(study / "synclr").is_file()


def test_resume_of_a_tampered_sweep_is_refused_before_ray_starts(
    twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "studies"
    spec = StudySpec(name="res", backbones=["synclr"], data=DataSettings(root=str(twin)))
    spec.save(storage / "res")
    exp_dir = storage / "res" / "synclr"
    write_experiment(exp_dir, [{"trial_id": "a", "status": "RUNNING", "config": {}, "rows": []}])
    marker = tmp_path / "ran"
    trap(exp_dir, marker)
    os.chmod(exp_dir / STATE, 0o666)
    assert main(["resume", "--name", "res", "--storage", str(storage)]) == 2
    assert f"{STATE}: writable by group or others" in one_line_error(capsys)
    assert not marker.exists()


HOLD_LOCK = """
import sys, time
from study.lock import study_lock
from study.ray_runtime import restore_tuner
with study_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""

RACING_SWEEP = """
import sys, time
from pathlib import Path
import study.sweep
from study.cli import main
study.sweep.preflight = lambda spec: time.sleep(1.0)  # widen the exists-check -> save window
study.sweep.run_study = lambda directory, address=None: []  # the command imports it when run
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
sys.exit(main(sys.argv[2:]))
"""


def python(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_a_held_study_refuses_sweep_resume_and_final_until_its_holder_dies(
    twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "studies"
    StudySpec(name="busy", backbones=["synclr"], data=DataSettings(root=str(twin))).save(
        storage / "busy"
    )
    holder = python(HOLD_LOCK, str(storage / "busy"))
    try:
        assert holder.stdout.readline().strip() == "locked"
        flags = ["--name", "busy", "--storage", str(storage)]
        commands = [
            ["resume", *flags],
            ["sweep", *flags, "--data", str(twin), "--backbones", "synclr"],
            ["final", *flags, "--data", str(twin)],
        ]
        for command in commands:
            assert main(command) == 2, command
            assert f"in use by pid {holder.pid} on " in one_line_error(capsys)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with study_lock(storage / "busy"):  # the dead holder's lock is gone
        assert (storage / "busy" / ".lock").read_text().startswith(f"pid {os.getpid()} ")


def test_two_sweeps_started_together_create_the_study_once(twin: Path, tmp_path: Path) -> None:
    storage, go = tmp_path / "studies", tmp_path / "go"
    command = ["sweep", "--data", str(twin), "--backbones", "synclr"]
    command += ["--name", "race", "--storage", str(storage)]
    sweeps = [python(RACING_SWEEP, str(go), *command) for _ in range(2)]
    for process in sweeps:
        assert process.stdout.readline().strip() == "ready"
    go.touch()
    results = sorted((p.wait(timeout=120), p.stderr.read()) for p in sweeps)
    assert [code for code, _ in results] == [0, 2], results
    # The loser either met the winner's lock or, if it got there after the winner released it
    # (a loaded machine), the study the winner saved: never a second creation.
    loser = results[1][1]
    assert "the study is in use by pid" in loser or "a study named 'race' exists" in loser, loser
    assert (storage / "race" / "study.yaml").is_file()


def test_a_lock_file_planted_as_a_symlink_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / ".lock").symlink_to(victim)
    with pytest.raises(ConfigError, match="symbolic link"), study_lock(tmp_path / "study"):
        pass
    assert victim.read_text() == "precious"


def test_a_command_that_fails_before_saving_leaves_no_study_folder(
    twin: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "studies"
    command = ["sweep", "--data", str(twin), "--backbones", "nope", "--name", "x"]
    assert main([*command, "--storage", str(storage)]) == 2
    assert not (storage / "x").exists()


@pytest.mark.parametrize(
    ("backbone", "data", "extra", "message"),
    [
        ("synclr", "bad", [], "bad"),
        ("synclr", "twin", ["--subjects", "7"], r"no EEG for subject\(s\) \[7\]"),
        ("dino", "twin", [], "dino"),
    ],
)
def test_a_failed_configs_only_final_saves_nothing(
    twin: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    backbone: str,
    data: str,
    extra: list[str],
    message: str,
) -> None:
    configs = tmp_path / "best.yaml"
    config = {"config": TrainConfig(epochs=1).to_dict()}
    configs.write_text(yaml.safe_dump({"backbones": {backbone: config}}))
    root = twin if data == "twin" else tmp_path / data
    storage = tmp_path / "studies"
    command = ["final", "--name", "fin", "--storage", str(storage), "--configs", str(configs)]
    assert main([*command, "--data", str(root), *extra]) == 2
    assert re.search(message, one_line_error(capsys))
    assert not (storage / "fin").exists()


def test_the_report_follows_the_data_the_final_used(
    twin: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from reports.protocol import protocol_table, synthetic_banner
    from study import final
    from study.results import load_study
    from trainables.tune import final_trainable as final_run

    for name in ("init_ray", "_tuner", "fit_checked"):  # no training: only what is saved
        monkeypatch.setattr(final, name, lambda *a, **k: None)
    monkeypatch.setattr(final_run, "make_final_trainable", lambda *a, **k: None)
    configs = tmp_path / "best.yaml"
    config = {"config": TrainConfig(epochs=1).to_dict()}
    configs.write_text(yaml.safe_dump({"backbones": {"synclr": config}}))
    storage, bad = tmp_path / "studies", tmp_path / "bad"
    bad.mkdir()
    command = ["final", "--name", "fin", "--storage", str(storage), "--configs", str(configs)]
    assert main([*command, "--data", str(bad)]) == 2
    assert main([*command, "--data", str(twin), "--subjects", "1"]) == 0
    assert StudySpec.load(storage / "fin").data.root == str(twin.resolve())
    saved = yaml.safe_load((storage / "fin" / "final" / "final.yaml").read_text())
    assert saved["data"]["root"] == str(twin.resolve())
    results = load_study(storage, "fin")
    assert synthetic_banner(results) is not None
    assert dict(protocol_table(results).rows)["data root"] == str(twin.resolve())

    real = tmp_path / "real"  # a sweep on other (real) data, the final on the twin
    shutil.copytree(twin, real, ignore=shutil.ignore_patterns("synthetic.json", ".study-cache"))
    spec = StudySpec.load(storage / "fin")
    spec.data.root = str(real)
    spec.save(storage / "fin")
    results = load_study(storage, "fin")
    assert synthetic_banner(results) is not None
    rows = dict(protocol_table(results).rows)
    assert rows["data root"] == f"{real} (sweep); {twin.resolve()} (final runs)"
    capsys.readouterr()
    assert main([*command, "--data", str(real), "--subjects", "1"]) == 2
    assert "final runs with other data" in one_line_error(capsys)


def test_a_tuner_killed_before_its_first_state_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ``tuner.pkl`` (the driver died before the first experiment state): a fresh Tuner,
    not Ray's restore, which would "restart" with a searcher that stops after one trial."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    experiment = tmp_path / "study" / "aligned_synclr"
    write_experiment(experiment, [])
    (experiment / STATE).unlink()
    marker = tmp_path / "ran"
    (experiment / "tuner.pkl").write_bytes(pickle.dumps(Trap(marker)))
    assert restore_tuner(experiment.parent, experiment, None, "aligned_synclr", "sweep") is None
    assert not marker.exists()
    (experiment / "trial_a").mkdir()  # a trial started, its state lost: refused, as before
    with pytest.raises(DataError, match="trial folders but no experiment_state"):
        restore_tuner(experiment.parent, experiment, None, "aligned_synclr", "sweep")
