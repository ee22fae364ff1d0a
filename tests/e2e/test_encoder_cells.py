"""A study over encoders x backbones: a Tuner per cell, then status, export-best, final, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from search_spaces import SearchSpace
from study.cli import main
from study.results import FINISHED, load_final, read_trials
from study.spec import DataSettings, StudySpec, SweepSettings
from study.sweep import create_study, read_outcome, run_study
from trainables.common.errors import ConfigError

ENCODERS = ["nice_100hz", "eegnet"]
BACKBONES = ["synclr", "aligned_synclr"]
CELLS = [f"{e}+{b}" for e in ENCODERS for b in BACKBONES]
TINY_TRAIN = {"batch_size": 64, "latent_dim": 32, "warmup_encoder": 1, "warmup_projector": 1}


def space_file(tmp_path: Path) -> Path:
    """The seed space plus one EEGNet-only parameter, tuned for EEGNet cells only."""
    path = tmp_path / "space.yaml"
    path.write_text(
        "base: seed\nname: cells\noverrides:\n"
        "  eegnet:\n    eegnet.F1: {type: int, low: 4, high: 8}\n"
    )
    return path


def test_a_study_over_encoders_and_backbones_runs_and_reports_per_cell(
    ray_session: None, twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "studies"
    spec = StudySpec(
        name="cells",
        backbones=list(BACKBONES),
        encoders=list(ENCODERS),
        data=DataSettings(root=str(twin), tune_subjects=[1]),
        sweep=SweepSettings(num_samples=1, max_epochs=1, scheduler="none", max_concurrent=2),
        space=str(space_file(tmp_path)),
        train=dict(TINY_TRAIN),
    )
    create_study(spec, storage / "cells")
    saved = StudySpec.load(storage / "cells")
    assert [c.key for c in saved.cells()] == CELLS
    for cell in saved.cells():  # the resolved space of each cell is saved
        tuned = SearchSpace.from_dict(saved.spaces[cell.key]).params
        assert ("eegnet.F1" in tuned) == (cell.encoder == "eegnet")

    outcomes = run_study(storage / "cells")
    assert [o.key for o in outcomes] == CELLS
    for outcome in outcomes:
        trials = read_trials(storage / "cells" / outcome.key)
        assert len(trials) == 1 and trials[0].status == FINISHED
        assert trials[0].config["model"] == outcome.encoder
        assert read_outcome(storage / "cells", outcome.key) == outcome
    flags = ["--name", "cells", "--storage", str(storage)]
    capsys.readouterr()
    assert main(["status", *flags]) == 0
    printed = capsys.readouterr().out
    assert all(f"[{cell}] finished: 1 done" in printed for cell in CELLS)

    assert main(["export-best", *flags, "--out", str(tmp_path / "best.yaml")]) == 0
    exported = yaml.safe_load((tmp_path / "best.yaml").read_text())["backbones"]
    assert list(exported) == CELLS
    assert all(exported[c]["config"]["model"] == c.split("+")[0] for c in CELLS)
    assert 4 <= exported["eegnet+synclr"]["config"]["eegnet"]["F1"] <= 8

    assert main(["final", *flags, "--subjects", "1,2", "--seeds", "1"]) == 0
    final = load_final(storage / "cells" / "final")
    assert final.cells == CELLS and len(final.complete_runs) == 8
    for run in final.runs:
        assert run.backbone == run.cell.split("+")[1] and run.encoder == run.cell.split("+")[0]

    assert main(["report", *flags, "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    tables = report["tables"]
    grid = tables["encoder_grid"]
    assert grid["columns"] == ["encoder", "metric", *BACKBONES]
    assert [row["encoder"] for row in grid["rows"]] == [e for e in ENCODERS for _ in range(3)]
    assert all("(n=2)" in row[b] for row in grid["rows"] for b in BACKBONES)
    pairs = {(row["aligned"], row["unaligned"]) for row in tables["aligned_vs_unaligned"]["rows"]}
    assert pairs == {(f"{e}+aligned_synclr", f"{e}+synclr") for e in ENCODERS}
    assert (tmp_path / "report" / "figures" / "encoders_by_backbone.png").is_file()


def test_encoders_and_a_fixed_model_together_are_refused(twin: Path, tmp_path: Path) -> None:
    spec = StudySpec(
        name="both", backbones=["synclr"], encoders=["eegnet"],
        data=DataSettings(root=str(twin)), train={"model": "nice"},
    )  # fmt: skip
    with pytest.raises(ConfigError, match="train.model and encoders both choose"):
        create_study(spec, tmp_path / "both")
    assert not (tmp_path / "both").exists()
