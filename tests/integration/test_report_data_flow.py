"""Data flows one way into reports: no torch, no study.final, no reopening of the data."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

from reports.protocol import protocol_table, synthetic_banner
from study.results import load_study
from study.results.data_facts import tuning_eeg_facts
from study.spec import DataSettings, StudySpec, SweepSettings
from study.sweep import create_study

IMPORTS = """
import sys
import study.final
print([m for m in sys.modules if m.split(".")[0] == "reports"])
import reports.report, study.results
print([m for m in ("torch", "ray") if m in sys.modules])
"""


def test_reports_import_no_torch_and_study_final_no_reports() -> None:
    run = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["[]", "[]"]


def test_a_new_study_reports_its_data_protocol_without_the_data(twin: Path, tmp_path: Path) -> None:
    data = shutil.copytree(twin, tmp_path / "data")
    storage = tmp_path / "studies"
    spec = StudySpec(
        name="flow",
        backbones=["synclr"],
        data=DataSettings(root=str(data), tune_subjects=[1]),
        sweep=SweepSettings(num_samples=1, max_epochs=1, grace_period=1),
    )
    created = create_study(spec, storage / "flow")
    assert created.data_protocol is not None and created.data_protocol.synthetic is not None
    assert "files" not in created.data_protocol.synthetic
    # read the old way (the prepared cache the creation left): the same facts
    from_cache = tuning_eeg_facts(dataclasses.replace(created, data_protocol=None))
    assert from_cache == tuning_eeg_facts(created)
    with_data = load_study(storage, "flow")
    shutil.rmtree(data)
    without_data = load_study(storage, "flow")
    rows = dict(protocol_table(without_data).rows)
    assert rows == dict(protocol_table(with_data).rows)
    assert synthetic_banner(without_data) is not None
    assert rows["data"].startswith("SYNTHETIC DATA")
    for item in ("data release/format", "channels", "sampling rate"):
        assert rows[item] != "not recorded"
    assert rows["channels"].startswith(f"{len(created.data_protocol.channels)}: ")
    assert "mean of ? repetitions" not in rows["repetition averaging"]
