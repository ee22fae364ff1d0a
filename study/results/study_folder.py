"""Load a finished (or partly finished) study from disk: spec, sweep trials and final runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.results.data_facts import EEGFacts, tuning_eeg_facts
from study.results.final_runs import (
    ANALYSIS_DIR,
    FINAL_DIR,
    FINAL_SPEC,
    FinalResults,
    load_final,
)
from study.results.trials import TrialRecord, read_trials
from study.spec import StudySpec
from study.spec import study_dir as resolve_study_dir
from trainables.common.errors import ConfigError

SYNTH_MANIFEST = "synthetic.json"


@dataclass
class StudyResults:
    """Everything a report needs about one study."""

    study_dir: Path
    spec: StudySpec
    trials: dict[str, list[TrialRecord]]
    final: FinalResults | None = None
    analyses: dict[str, FinalResults] = field(default_factory=dict)  # windows / regions
    synthetic: dict[str, Any] | None = None
    tuning_eeg: EEGFacts = field(default_factory=EEGFacts)

    @property
    def objective(self) -> str:
        return self.spec.sweep.objective

    @property
    def mode(self) -> str:
        return self.spec.sweep.mode


def load_study(storage: Path, name: str) -> StudyResults:
    """Read ``<storage>/<name>``; a missing study is a ConfigError naming the folder."""
    study_dir = resolve_study_dir(storage, name)
    if not study_dir.is_dir():
        raise ConfigError(f"{study_dir}: no such study (check --name and --storage)")
    spec = StudySpec.load(study_dir)
    trials = {cell.key: read_trials(study_dir / cell.key) for cell in spec.cells()}
    final_dir = study_dir / FINAL_DIR
    final = load_final(final_dir) if (final_dir / FINAL_SPEC).is_file() else None
    analyses = {
        folder.parent.name: load_final(folder.parent)
        for folder in sorted((study_dir / ANALYSIS_DIR).glob(f"*/{FINAL_SPEC}"))
    }
    return StudyResults(
        study_dir=study_dir,
        spec=spec,
        trials=trials,
        final=final,
        analyses=analyses,
        synthetic=synthetic_manifest(spec, final),
        tuning_eeg=tuning_eeg_facts(spec),
    )


def data_roots(spec: StudySpec, final: FinalResults | None) -> list[str]:
    """The data roots the study's numbers came from: the sweep's and the final's (if other)."""
    roots = [spec.data.root] if spec.data.root else []
    final_root = final.data.get("root") if final is not None else None
    if isinstance(final_root, str) and final_root not in roots:
        roots.append(final_root)
    return roots


def synthetic_manifest(spec: StudySpec, final: FinalResults | None) -> dict[str, Any] | None:
    """The first synthetic.json among the data roots: any synthetic data used gets the banner.

    The sweep's is the one recorded in the spec when it holds the data protocol (a study saved
    before that reads it from the data root, as other roots are read).
    """
    for root in data_roots(spec, final):
        if root == spec.data.root and spec.data_protocol is not None:
            manifest = spec.data_protocol.synthetic
        else:
            manifest = read_synthetic_manifest(Path(root))
        if manifest is not None:
            return manifest
    return None


def read_synthetic_manifest(data_root: Path) -> dict[str, Any] | None:
    """The data root's synthetic.json (written by `study synth`), or None for real data."""
    path = Path(data_root).expanduser() / SYNTH_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_bytes())
    except ValueError:  # not JSON, or not UTF-8
        return {"synthetic": True, "unreadable": str(path)}
    return manifest if isinstance(manifest, dict) else {"synthetic": True}
