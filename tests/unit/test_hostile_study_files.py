"""Damaged or edited study files: every command says which file, in one line, and exits 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.figure import Figure

from reports.render import REPORT_MANIFEST
from reports.report import generate_report
from study.cli import main
from study.results import load_study
from tests.helpers.study_files import BACKBONES, make_study
from trainables.common.errors import ConfigError

STUDY = "demo"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process; it must fail with exit 2 and one `error:` line; returns it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def storage_args(storage: Path) -> list[str]:
    return ["--name", STUDY, "--storage", str(storage)]


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A finished sweep-only study; returns its storage folder."""
    return make_study(tmp_path, final=False)


@pytest.fixture
def final_study(tmp_path: Path) -> Path:
    """A study with final runs; returns its storage folder."""
    return make_study(tmp_path)


def first_result(storage: Path) -> Path:
    return sorted((storage / STUDY / BACKBONES[0]).glob("trial_*/result.json"))[0]


def rewrite_first_row(storage: Path, change: Callable[[dict], object]) -> Path:
    """Replace the first row of the first trial's result.json by ``change(row)``."""
    path = first_result(storage)
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    lines[0] = json.dumps(change(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def state_file(storage: Path) -> Path:
    return next((storage / STUDY / BACKBONES[0]).glob("experiment_state-*.json"))


def with_key(key: str, value: object) -> Callable[[dict], dict]:
    return lambda row: {**row, key: value}


def without_key(key: str) -> Callable[[dict], dict]:
    return lambda row: {k: v for k, v in row.items() if k != key}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (with_key("val_top1", 99), "val_top1 must be an accuracy in [0, 1], got 99"),
        (with_key("val_top3", -0.5), "val_top3 must be an accuracy in [0, 1]"),
        (with_key("val_top1", "0.5"), "val_top1 must be an accuracy in [0, 1], got '0.5'"),
        (with_key("val_top1", float("nan")), "val_top1 must be an accuracy in [0, 1], got nan"),
        (with_key("val_loss", float("inf")), "val_loss must be a finite number, got inf"),
        (with_key("train_loss", None), "train_loss must be a finite number, got None"),
        (with_key("training_iteration", "1"), "training_iteration must be an integer >= 1"),
        (without_key("training_iteration"), "training_iteration must be an integer >= 1"),
        (lambda row: [row], "line 1 is not a JSON object"),
    ],
)
def test_bad_result_rows(
    study: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[dict], object],
    expected: str,
) -> None:
    path = rewrite_first_row(study, change)
    for command in ("report", "status", "export-best"):
        extra = ["--out", str(study / "best.yaml")] if command == "export-best" else []
        err = run_cli([command, *storage_args(study), *extra], capsys)
        assert str(path) in err and expected in err


def test_non_utf8_result_file(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = first_result(study)
    path.write_bytes(b'{"training_iteration": 1, "val_top1": 0.5}\n\xff\xfe\n')
    err = run_cli(["status", *storage_args(study)], capsys)
    assert f"{path}: not UTF-8 text" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe{}", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a mapping, got [1, 2]"),
        (b"{}", "trial_data is missing"),
        (b'{"trial_data": "abc"}', "trial_data must be a list, got 'abc'"),
        (b'{"trial_data": [[5, "{}"]]}', "trial_data[0][0] must be a string, got 5"),
        (b'{"trial_data": [["{\\"status\\": 1}", "{}"]]}', "trial_data[0]: trial_id is missing"),
        (b'{"trial_data": [["[]", "{}"]]}', "trial_data[0]: must be a mapping"),
    ],
)
def test_bad_experiment_state(
    study: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = state_file(study)
    path.write_bytes(content)
    for command in ("status", "report"):
        err = run_cli([command, *storage_args(study)], capsys)
        assert str(path) in err and expected in err


@pytest.mark.parametrize("logdir", ["../../../etc", "/etc", ""])
def test_trial_logdir_outside_the_experiment(
    study: Path, capsys: pytest.CaptureFixture[str], logdir: str
) -> None:
    path = state_file(study)
    state = json.loads(path.read_text())
    trial = json.loads(state["trial_data"][0][0])
    state["trial_data"][0][0] = json.dumps({**trial, "relative_logdir": logdir})
    path.write_text(json.dumps(state))
    err = run_cli(["status", *storage_args(study)], capsys)
    assert str(path) in err and "leaves the experiment folder" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\x00garbage", "not valid JSON"),
        (b"[]", "must be a mapping, got []"),
        (b'{"backbone": "synclr"}', "is missing"),
        (
            b'{"backbone": "synclr", "trials": "3", "errors": 0, "best_value": null, '
            b'"best_config": {}, "seconds": 1.0}',
            "trials must be an integer, got '3'",
        ),
    ],
)
def test_bad_sweep_done_file(
    study: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = study / STUDY / BACKBONES[0] / "sweep_done.json"
    path.write_bytes(content)
    err = run_cli(["status", *storage_args(study)], capsys)
    assert str(path) in err and expected in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{", "not valid JSON"),
        (b"{}", "must be a list"),
        (b'[{"started_at": 1.0}]', "is missing"),
        (b'[{"started_at": 1.0, "seconds": 2.0, "slots": "2", "runs": 0, "epochs": 0, '
         b'"epoch_s": 0.0, "utilisation": null}]', "slots must be an integer, got '2'"),
    ],
)  # fmt: skip
def test_bad_sweep_runs_file(
    study: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = study / STUDY / "sweep_runs.json"
    path.write_bytes(content)
    err = run_cli(["status", *storage_args(study)], capsys)
    assert str(path) in err and expected in err


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"sweep": {"objective": "foo"}}, "objective must be one of"),
        ({"sweep": {"num_samples": "3"}}, "sweep.num_samples must be an integer, got '3'"),
        ({"sweep": {"num_samples": 3.5}}, "sweep.num_samples must be an integer, got 3.5"),
        ({"sweep": {"cpus_per_trial": float("nan")}}, "sweep.cpus_per_trial must be a finite"),
        ({"sweep": {"seed": -1}}, "seed must be in [0, 2**32), got -1"),
        ({"sweep": 5}, "sweep must be a mapping, got 5"),
        ({"backbones": "synclr"}, "backbones must be a list, got 'synclr'"),
        ({"wandb": {"enabled": "yes"}}, "wandb.enabled must be true or false, got 'yes'"),
        ({"data": {"tune_subjects": [1, True]}}, "data.tune_subjects[1] must be an integer"),
        ({"data": {"root": 7}}, "data.root must be a string, got 7"),
        ({"spaces": {"synclr": "wide"}}, "spaces.synclr must be a mapping"),
        ({"spaces": {"synclr": {"params": 5}}}, "spaces.synclr: search space"),
        ({"colour": "blue"}, "colour is not a known setting"),
    ],
)
def test_bad_study_yaml(
    study: Path, capsys: pytest.CaptureFixture[str], edit: dict, expected: str
) -> None:
    path = study / STUDY / "study.yaml"
    raw = yaml.safe_load(path.read_text())
    for key, value in edit.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and key in raw else value
    path.write_text(yaml.safe_dump(raw))
    for command in ("status", "report"):
        err = run_cli([command, *storage_args(study)], capsys)
        assert f"{path}: " in err and expected in err


@pytest.mark.parametrize("content", [b"- a\n- b\n", b"\x80\x81", b"name: [unclosed\n"])
def test_study_yaml_that_is_not_a_mapping(
    study: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = study / STUDY / "study.yaml"
    path.write_bytes(content)
    assert str(path) in run_cli(["status", *storage_args(study)], capsys)


@pytest.mark.parametrize(
    ("config", "flags", "expected"),
    [
        ("sweep: {num_samples: '3'}\n", [], "sweep.num_samples must be an integer, got '3'"),
        ("backbones: synclr\n", [], "backbones must be a list, got 'synclr'"),
        ("sweep: 5\n", [], "sweep must be a mapping, got 5"),
        ("sweep: 5\n", ["--seed", "1"], "sweep must be a mapping, got 5"),
        ("backbones: [synclr]\nsweep: {objective: foo}\n", [], "objective must be one of"),
    ],
)
def test_bad_sweep_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: str,
    flags: list[str],
    expected: str,
) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(config)
    argv = ["sweep", "--name", "s", "--storage", str(tmp_path / "st"), "--config", str(path)]
    err = run_cli([*argv, *flags, "--data", str(tmp_path / "data")], capsys)
    assert expected in err
    assert not (tmp_path / "st" / "s").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"seeds: abc\n", "seeds must be a list, got 'abc'"),
        (b"- 1\n- 2\n", "must be a mapping"),
        (b"subjects: [1, x]\n", "subjects[1] must be an integer, got 'x'"),
        (b"configs: [1]\n", "configs must be a mapping"),
        (b"data: {n_times: many}\n", "data: n_times must be an integer, got 'many'"),
        (b"protocol: [unclosed\n", "not valid YAML"),
        (b"\x80\x81 not utf-8", "not valid YAML"),
    ],
)
def test_bad_final_yaml(
    final_study: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = final_study / STUDY / "final" / "final.yaml"
    path.write_bytes(content)
    err = run_cli(["report", *storage_args(final_study)], capsys)
    assert str(path) in err and expected in err


def similarity_files(storage: Path) -> list[Path]:
    return sorted((storage / STUDY / "final" / "runs").glob("*/checkpoint_000001/*.npy"))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "not a readable .npy"),
        (lambda p: p.write_bytes(b"garbage"), "not a readable .npy"),
        (lambda p: np.save(p, np.array(["a", "b"])), "expected a square similarity matrix"),
        (lambda p: np.save(p, np.full((4, 4), np.nan)), "NaN or infinite"),
        (lambda p: np.save(p, np.array([["a", "b"], ["c", "d"]])), "expected a numeric"),
    ],
)
def test_bad_similarity_matrix(
    final_study: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
    expected: str,
) -> None:
    path = similarity_files(final_study)[0]
    damage(path)
    out = final_study / "out"
    err = run_cli(["report", *storage_args(final_study), "--out", str(out)], capsys)
    assert str(path) in err and expected in err
    assert not out.exists()  # refused before anything was written


def test_final_run_config_of_wrong_type(
    final_study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = next((final_study / STUDY / "final" / "runs").glob("experiment_state-*.json"))
    state = json.loads(path.read_text())
    trial = json.loads(state["trial_data"][0][0])
    trial["config"]["subject"] = "one"
    state["trial_data"][0][0] = json.dumps(trial)
    path.write_text(json.dumps(state))
    err = run_cli(["report", *storage_args(final_study)], capsys)
    assert "integer subject and seed" in err and "'one'" in err


def test_report_refuses_a_foreign_folder(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = study.parent / "thesis"
    out.mkdir()
    (out / "report.md").write_text("my own notes")
    err = run_cli(["report", *storage_args(study), "--out", str(out)], capsys)
    assert str(out) in err and "not a report folder" in err
    assert [p.name for p in out.iterdir()] == ["report.md"]
    assert (out / "report.md").read_text() == "my own notes"
    (out / "report.md").unlink()
    (out / "notes").write_text("x")
    run_cli(["report", *storage_args(study), "--out", str(out / "notes")], capsys)


def test_report_rewrites_a_folder_written_before_manifests(study: Path, tmp_path: Path) -> None:
    """A report folder from before report_manifest.json existed is still the tool's own."""
    out = tmp_path / "out"
    generate_report(load_study(study, STUDY), out)
    (out / REPORT_MANIFEST).unlink()
    generate_report(load_study(study, STUDY), out)
    assert (out / REPORT_MANIFEST).is_file()
    (out / REPORT_MANIFEST).unlink()
    (out / "figures" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a report folder"):
        generate_report(load_study(study, STUDY), out)
    assert (out / "figures" / "notes.txt").read_text() == "mine"


def test_report_rewrites_its_own_folder(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _, first = generate_report(load_study(study, STUDY), out)
    stale = out / "figures" / "old_figure.png"
    stale.write_bytes(b"old")
    manifest = json.loads((out / REPORT_MANIFEST).read_text())
    manifest["files"].append("figures/old_figure.png")
    (out / REPORT_MANIFEST).write_text(json.dumps(manifest))
    _, second = generate_report(load_study(study, STUDY), out)
    assert sorted(first) == sorted(second)
    assert not stale.exists()  # the previous report's file, not written again
    listed = json.loads((out / REPORT_MANIFEST).read_text())["files"]
    assert sorted(listed) == sorted(p.relative_to(out).as_posix() for p in second[:-1])


def test_figures_are_written_atomically(
    study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    generate_report(load_study(study, STUDY), out)
    figure = out / "figures" / "learning_curves.png"
    before = figure.read_bytes()

    def broken_savefig(self: Figure, fname: object, **kwargs: object) -> None:
        Path(str(fname)).write_bytes(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        generate_report(load_study(study, STUDY), out)
    assert figure.read_bytes() == before
    assert not [p for p in (out / "figures").iterdir() if p.suffix != ".png"]
