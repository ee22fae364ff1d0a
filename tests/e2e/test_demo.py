"""`study demo` at a reduced size: synthetic twin -> sweep -> final runs -> report."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.cli import main
from study.results import load_study


def test_quick_demo_runs_the_whole_workflow(
    ray_session: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr()
    report = tmp_path / "demo" / "studies" / "demo" / "report" / "report.md"
    assert f"report: {report.resolve()}" in printed.out and "SYNTHETIC DATA" in printed.out
    for stage in ("1/4", "2/4", "3/4", "4/4"):
        assert f"] {stage} " in printed.err  # progress is logged on stderr
    text = report.read_text()
    assert "SYNTHETIC DATA" in text and "Test retrieval accuracy" in text
    results = load_study(tmp_path / "demo" / "studies", "demo")
    assert results.spec.backbones == ["synclr", "aligned_synclr"]
    assert results.final is not None
    runs = results.final.complete_runs
    assert len(runs) == 4  # 2 backbones x 2 subjects x 1 seed
    assert all(0.0 <= run.metrics["test_top1"] <= 1.0 for run in runs)
    figures = list((report.parent / "figures").glob("*.png"))
    assert len(figures) >= 3 and all(f.stat().st_size > 1000 for f in figures)
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 2
