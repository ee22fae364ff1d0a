"""`study report` on a tiny finished study written file by file in the on-disk layout."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from reports.importance import MIN_TRIALS, TARGET_QUANTILE
from reports.protocol import protocol_table, synthetic_banner
from reports.report import generate_report, importances
from reports.stats import PAIRED_T, WILCOXON, paired_difference
from reports.tables import aligned_pairs, build_tables, importance_table
from search_spaces.presets import SEED
from study.cli import main
from study.results import best_trials, load_study
from tests.helpers.study_files import BACKBONES, GALLERY, make_study

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def recorded_rows(storage: Path, backbone: str) -> dict[str, list[dict[str, Any]]]:
    """Every trial's result rows, read straight from the files."""
    rows = {}
    for result in sorted((storage / "demo" / backbone).glob("trial_*/result.json")):
        lines = result.read_text().splitlines()
        rows[result.parent.name.removeprefix("trial_")] = [json.loads(line) for line in lines]
    return rows


def final_values(storage: Path, backbone: str, metric: str) -> dict[tuple[int, int], float]:
    """``{(subject, seed): last-row metric}`` of a backbone's final runs, read from the files."""
    runs = storage / "demo" / "final" / "runs"
    state = json.loads(next(runs.glob("experiment_state-*.json")).read_text())
    values = {}
    for trial_json, _ in state["trial_data"]:
        trial = json.loads(trial_json)
        lines = (runs / trial["relative_logdir"] / "result.json").read_text().splitlines()
        last = json.loads(lines[-1])
        if trial["config"]["backbone"] == backbone and metric in last:
            values[(trial["config"]["subject"], trial["config"]["seed"])] = last[metric]
    return values


def table(tables: list, key: str) -> Any:
    return next(t for t in tables if t.key == key)


@pytest.mark.parametrize("objective", ["val_top1", "val_loss"])
def test_best_trial_matches_recorded_metrics(tmp_path: Path, objective: str) -> None:
    storage = make_study(tmp_path, objective=objective, final=False)
    results = load_study(storage, "demo")
    best = best_trials(results)
    rows = table(build_tables(results, best), "best_trials").records()
    pick = max if objective == "val_top1" else min
    for backbone, row in zip(BACKBONES, rows, strict=True):
        recorded = recorded_rows(storage, backbone)
        trial_id, best_row = pick(
            ((tid, r) for tid, rs in recorded.items() for r in rs), key=lambda x: x[1][objective]
        )
        assert row["backbone"] == backbone
        assert row["trial"] == trial_id
        assert row[objective] == best_row[objective]
        for k in (1, 3, 5):
            assert row[f"val_top{k}"] == best_row[f"val_top{k}"]
        assert row["best_epoch"] == best_row["training_iteration"]
        assert row["epochs_trained"] == len(recorded[trial_id])
        assert (row["trials_run"], row["finished"], row["errored"]) == (8, 6, 1)
        config = next(t.config for t in results.trials[backbone] if t.trial_id == trial_id)
        assert row["lr_encoder"] == config["lr_encoder"]
        assert row["latent_dim"] == config["latent_dim"]
        configs = table(build_tables(results, best), "best_configs")
        column = configs.columns.index(backbone)
        assert {r[0]: r[column] for r in configs.rows} == config


def test_final_summary_and_per_subject(tmp_path: Path) -> None:
    storage = make_study(tmp_path)
    results = load_study(storage, "demo")
    assert len(results.final.runs) == 25 and len(results.final.complete_runs) == 24
    tables = build_tables(results, best_trials(results))
    summary = {r["backbone"]: r for r in table(tables, "final_test").records()}
    per_subject = table(tables, "per_subject").records()
    for backbone in BACKBONES:
        for k in (1, 3, 5):
            values = final_values(storage, backbone, f"test_top{k}")
            assert len(values) == 12  # the unfinished run is left out
            array = np.array(list(values.values()))
            assert summary[backbone][f"test_top{k}_mean"] == pytest.approx(array.mean())
            assert summary[backbone][f"test_top{k}_std"] == pytest.approx(array.std(ddof=1))
            assert summary[backbone][f"chance_top{k}"] == pytest.approx(k / GALLERY)
            for row in (r for r in per_subject if r["backbone"] == backbone):
                seeds = [v for (s, _), v in values.items() if s == row["subject"]]
                assert row[f"test_top{k}"] == pytest.approx(np.mean(seeds))
        assert summary[backbone]["runs"] == 12 and summary[backbone]["subjects"] == 6


@pytest.mark.parametrize(
    ("subjects", "test"), [([1, 2, 3, 4, 5, 6], WILCOXON), ([1, 2, 3], PAIRED_T)]
)
def test_paired_statistics(tmp_path: Path, subjects: list[int], test: str) -> None:
    storage = make_study(tmp_path, subjects=subjects)
    results = load_study(storage, "demo")
    assert aligned_pairs(results.final.cells) == [("aligned_synclr", "synclr")]
    rows = table(build_tables(results, best_trials(results)), "aligned_vs_unaligned").records()
    assert [r["metric"] for r in rows] == ["test_top1", "test_top3", "test_top5"]
    for row in rows:
        per_subject = {}
        for backbone in BACKBONES:
            values = final_values(storage, backbone, row["metric"])
            per_subject[backbone] = np.array(
                [np.mean([v for (s, _), v in values.items() if s == subj]) for subj in subjects]
            )
        a, b = per_subject["aligned_synclr"], per_subject["synclr"]
        expected = stats.wilcoxon(a, b) if test == WILCOXON else stats.ttest_rel(a, b)
        ci = stats.ttest_rel(a, b).confidence_interval(0.95)
        assert row["test"] == test and row["subjects"] == len(subjects)
        assert row["difference"] == pytest.approx(np.mean(a - b))
        assert row["p_value"] == pytest.approx(expected.pvalue)
        assert row["statistic"] == pytest.approx(expected.statistic)
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((ci.low, ci.high))


def test_paired_difference_edge_cases() -> None:
    same = paired_difference(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3]))
    assert same.mean_diff == 0.0 and same.p_value == 1.0
    single = paired_difference(np.array([0.5]), np.array([0.4]))
    assert single.mean_diff == pytest.approx(0.1) and np.isnan(single.p_value)
    assert np.isnan(single.ci_low)
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference(np.zeros(3), np.zeros(4))


def test_similarity_uses_last_checkpoint(tmp_path: Path) -> None:
    storage = make_study(tmp_path)
    results = load_study(storage, "demo")
    rows = table(build_tables(results, best_trials(results)), "similarity").records()
    for row in rows:
        matrices = [
            np.load(path)
            for run in results.final.complete_runs
            if run.backbone == row["backbone"]
            for path in [run.trial.logdir / "checkpoint_000001" / "test_similarity.npy"]
        ]
        stacked = np.stack(matrices)
        mask = np.eye(GALLERY, dtype=bool)
        assert row["matched_mean"] == pytest.approx(stacked[:, mask].mean())
        assert row["unmatched_mean"] == pytest.approx(stacked[:, ~mask].mean())
        assert row["matched_mean"] - row["unmatched_mean"] > 0.3  # the shifted checkpoint


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`study report` of a study with final runs, run once: (output folder, printed text)."""
    tmp_path = tmp_path_factory.mktemp("full")
    storage = make_study(tmp_path, trials=MIN_TRIALS)
    out = tmp_path / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["report", "--name", "demo", "--storage", str(storage), "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_report_writes_every_output(full_report: tuple[Path, str]) -> None:
    out, printed = full_report
    assert "# Study report: demo" in printed and str(out) in printed
    for name in ("report.md", "report.tex", "report.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "report.md").read_text() in printed
    keys = [
        "best_trials",
        "best_configs",
        "final_test",
        "per_subject",
        "aligned_vs_unaligned",
        "similarity",
    ]
    keys += ["param_importances", "protocol"]
    report = json.loads((out / "report.json").read_text())
    assert list(report["tables"]) == keys
    for key in keys:
        with open(out / "csv" / f"{key}.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(report["tables"][key]["rows"]) > 0
    assert r"\begin{tabular}" in (out / "report.tex").read_text()
    figures = ["learning_curves", "aligned_vs_unaligned", "similarity_distributions"]
    for name in [*figures, "param_importances"]:
        data = (out / "figures" / f"{name}.png").read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1024
    assert "![learning_curves](figures/learning_curves.png)" in printed
    importances = report["tables"]["param_importances"]["rows"]
    assert {r["parameter"] for r in importances} <= set(SEED.params)
    assert sum(r["importance"] for r in importances) == pytest.approx(2.0)  # per backbone: 1
    assert {r["trials"] for r in importances} == {MIN_TRIALS}


def test_csv_and_json_hold_the_same_numbers(full_report: tuple[Path, str]) -> None:
    out, _ = full_report
    report = json.loads((out / "report.json").read_text())
    for key in ("final_test", "aligned_vs_unaligned"):
        with open(out / "csv" / f"{key}.csv") as fh:
            rows = list(csv.DictReader(fh))
        for csv_row, json_row in zip(rows, report["tables"][key]["rows"], strict=True):
            for column, value in json_row.items():
                if isinstance(value, float):
                    assert float(csv_row[column]) == value


def test_synthetic_banner_and_protocol(tmp_path: Path) -> None:
    results = load_study(make_study(tmp_path), "demo")
    banner = synthetic_banner(results)
    assert banner is not None and banner.startswith("SYNTHETIC DATA")
    protocol = dict(protocol_table(results).rows)
    assert protocol["data"] == banner
    assert protocol["sampling rate"].startswith("100 Hz")
    assert protocol["channels"] == "17"
    assert "mean of 4" in protocol["repetition averaging"]
    assert "mean of 80" in protocol["repetition averaging"]
    assert protocol["test gallery"] == f"all {GALLERY} test images"
    assert protocol["code version (sweep)"] == "abc1234"
    assert "6 trials per backbone" in protocol["budget"]
    assert "lr_encoder loguniform" in protocol["search space (synclr)"]
    assert protocol["final runs"] == "24 complete, 1 incomplete (left out)"


def test_real_data_has_no_banner(tmp_path: Path) -> None:
    storage = make_study(tmp_path, synthetic=False, final=False)
    out = tmp_path / "out"
    generate_report(load_study(storage, "demo"), out)
    assert synthetic_banner(load_study(storage, "demo")) is None
    assert "SYNTHETIC" not in (out / "report.md").read_text()


def test_study_without_final_runs(tmp_path: Path) -> None:
    storage = make_study(tmp_path, final=False)
    out = tmp_path / "out"
    assert main(["report", "--name", "demo", "--storage", str(storage), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["tables"]) == [
        "best_trials",
        "best_configs",
        "param_importances",
        "protocol",
    ]
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == ["learning_curves.png"]  # 6 trials: too few for importances
    importances = report["tables"]["param_importances"]
    assert importances["rows"] == []
    for backbone in BACKBONES:
        assert f"{backbone}: left out: 6 usable trial(s)" in " ".join(importances["notes"])
    assert "SYNTHETIC DATA" in (out / "report.md").read_text()
    protocol = {r["item"]: r["value"] for r in report["tables"]["protocol"]["rows"]}
    assert protocol["final training"] == "none yet (sweep results only)"
    assert protocol["test gallery"] == "not used (no final runs)"
    assert protocol["repetition averaging"].endswith("test EEG: not used (no final runs)")


def test_default_output_folder(tmp_path: Path) -> None:
    storage = make_study(tmp_path, final=False)
    assert main(["report", "--name", "demo", "--storage", str(storage)]) == 0
    assert (storage / "demo" / "report" / "report.md").is_file()


def test_missing_study_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--name", "nope", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["report", "--name", "empty", "--storage", str(tmp_path)]) == 2
    assert "study.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("trials", [MIN_TRIALS - 1, MIN_TRIALS])
def test_importances_need_min_trials(tmp_path: Path, trials: int) -> None:
    """Below MIN_TRIALS the importances are left out with a note; the count is always stated."""
    assert int(np.ceil(TARGET_QUANTILE * MIN_TRIALS)) >= 5  # trials in PED-ANOVA's top group
    results = load_study(make_study(tmp_path, final=False, trials=trials), "demo")
    computed = importances(results, best_trials(results))
    assert sorted(computed) == sorted(BACKBONES)
    assert {result.trials for result in computed.values()} == {trials}
    rendered = importance_table(computed, "PED-ANOVA")
    notes = " ".join(rendered.notes)
    if trials < MIN_TRIALS:
        assert all(result.values is None for result in computed.values())
        assert rendered.rows == []
        for backbone in BACKBONES:
            assert f"{backbone}: left out: {trials} usable trial(s)" in notes
    else:
        for result in computed.values():
            assert result.values is not None and sum(result.values.values()) == pytest.approx(1)
        assert {row[-1] for row in rendered.rows} == {trials} and "left out" not in notes
