"""`study demo` at a reduced size, with an encoders axis: twin -> sweep -> final runs -> report.

The demo's study is the suite's end-to-end check of a study with an encoders axis: one cell per
encoder x backbone through sweep, status, export-best, final and report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from study.cli import main
from study.results import load_study

ENCODERS = ["eegnet"]  # NICE (the default demo) is every other e2e test's encoder
BACKBONES = ["synclr", "aligned_synclr"]
CELLS = [f"{e}+{b}" for e in ENCODERS for b in BACKBONES]


def test_quick_demo_runs_the_whole_workflow(
    ray_session: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = ["demo", "--quick", "--out", str(tmp_path / "demo")]
    assert main([*demo, "--encoders", ",".join(ENCODERS)]) == 0
    printed = capsys.readouterr()
    report = tmp_path / "demo" / "studies" / "demo" / "report" / "report.md"
    assert f"report: {report.resolve()}" in printed.out and "SYNTHETIC DATA" in printed.out
    for stage in ("1/4", "2/4", "3/4", "4/4"):
        assert f"] {stage} " in printed.err  # progress is logged on stderr
    text = report.read_text()
    assert "SYNTHETIC DATA" in text and "Test retrieval accuracy" in text
    results = load_study(tmp_path / "demo" / "studies", "demo")
    assert results.spec.backbones == BACKBONES and results.spec.encoders == ENCODERS
    assert results.final is not None
    runs = results.final.complete_runs
    assert len(runs) == 4  # 1 encoder x 2 backbones x 2 subjects x 1 seed
    assert all(0.0 <= run.metrics["test_top1"] <= 1.0 for run in runs)
    for run in runs:
        assert (run.encoder, run.backbone) == tuple(run.cell.split("+"))
        assert run.trial.config["model"] == run.encoder
    figures = list((report.parent / "figures").glob("*.png"))
    assert len(figures) >= 4 and all(f.stat().st_size > 1000 for f in figures)
    assert (report.parent / "figures" / "encoders_by_backbone.png").is_file()
    tables = json.loads((report.parent / "report.json").read_text())["tables"]
    grid = tables["encoder_grid"]
    assert grid["columns"] == ["encoder", "metric", *BACKBONES]
    assert [row["encoder"] for row in grid["rows"]] == [e for e in ENCODERS for _ in range(3)]
    assert all("(n=2)" in row[b] for row in grid["rows"] for b in BACKBONES)
    pairs = {(row["aligned"], row["unaligned"]) for row in tables["aligned_vs_unaligned"]["rows"]}
    assert pairs == {(f"{e}+aligned_synclr", f"{e}+synclr") for e in ENCODERS}

    flags = ["--name", "demo", "--storage", str(tmp_path / "demo" / "studies")]
    assert main(["status", *flags]) == 0
    printed = capsys.readouterr().out
    assert all(f"[{cell}] finished: 2 done" in printed for cell in CELLS)
    assert main(["export-best", *flags, "--out", str(tmp_path / "best.yaml")]) == 0
    exported = yaml.safe_load((tmp_path / "best.yaml").read_text())["backbones"]
    assert list(exported) == CELLS
    assert all(exported[c]["config"]["model"] == c.split("+")[0] for c in CELLS)
    assert main(demo) == 2
