"""Where in time and space the decoding comes from: each cell's best configuration trained and
tested, final-style, on time windows or channel regions of the EEG.

An analysis is a final over derived cells: every study cell x window (or region) becomes the cell
``[<encoder>+]<backbone>@<label>`` (``<variant>-<label>`` for a cell of an inputs axis), whose
inputs are the cell's own with its time window or channels replaced. Its runs live in
``<study>/analysis/<kind>/`` in a final's layout (resumable; a finished analysis is kept), so the
report reads them like a final: test top-k per window or region per backbone and the paired
aligned - unaligned test per window or region.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from study.final import best_entries, run_final
from study.results import ANALYSIS_DIR, FinalRun
from study.spec import StudySpec, cell_key
from trainables.common.errors import ConfigError
from trainables.things_eeg2.inputs import CHANNEL_GROUPS, InputSpec

KINDS = ("windows", "regions")
WINDOW_FORMS = ("sliding:WIDTH:STEP", "growing:STEP")
DEFAULT_REGIONS = ("occipital", "parietal", "temporal", "central", "frontal")


def window_variants(text: str, epoch: tuple[float, float], sfreq: float) -> dict[str, InputSpec]:
    """``sliding:WIDTH:STEP`` (windows of WIDTH s every STEP s) or ``growing:STEP`` (windows
    from the epoch's start, STEP s longer each) over the epoch. A window [lo, hi) keeps the
    samples from lo to the last before hi; its label is ``t<lo>_<hi>ms``."""
    kind, *numbers = text.strip().split(":")
    try:
        values = [float(n) for n in numbers]
    except ValueError:
        values = []
    expected = {"sliding": 2, "growing": 1}.get(kind)
    if expected is None or len(values) != expected or min(values) <= 0:
        raise ConfigError(
            f"--windows {text!r}: expected {' or '.join(WINDOW_FORMS)} with positive seconds"
        )
    start, end = epoch
    sample = 1.0 / sfreq
    width, step = (values[0], values[1]) if kind == "sliding" else (values[0], values[0])
    windows = []
    k = 0
    while True:  # window k covers [lo, hi): its samples from lo to hi - one sample
        lo = start + k * step if kind == "sliding" else start
        hi = lo + width if kind == "sliding" else start + (k + 1) * step
        if hi - sample > end + sample / 2 or hi - lo < sample:
            break
        windows.append((round(lo, 6), round(hi, 6)))
        k += 1
    if not windows:
        raise ConfigError(f"--windows {text!r}: no window fits the epoch ({start:g} to {end:g} s)")
    return {
        f"t{round(lo * 1000)}_{round(hi * 1000)}ms": InputSpec(tmin=lo, tmax=round(hi - sample, 6))
        for lo, hi in windows
    }


def region_variants(text: str | None, channels: list[str]) -> dict[str, InputSpec]:
    """Named channel groups (default: the five regions that have channels in the data)."""
    if text:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in CHANNEL_GROUPS]
        if unknown or not names:
            raise ConfigError(
                f"--regions {text!r}: unknown group(s) {unknown}; "
                f"choose from {', '.join(CHANNEL_GROUPS)}"
            )
    else:
        names = [
            n for n in DEFAULT_REGIONS if any(re.match(CHANNEL_GROUPS[n], c) for c in channels)
        ]
    return {name: InputSpec(channels=name) for name in names}


def analysis_cells(
    study_dir: Path, spec: StudySpec, variants: dict[str, InputSpec], kind: str
) -> tuple[dict[str, dict[str, Any]], dict[str, InputSpec], dict[str, str]]:
    """(configs, inputs, source cell) per derived cell: each study cell's best config with its
    inputs' window (``windows``) or channels (``regions``) replaced by each variant's."""
    entries = best_entries(study_dir)
    configs, inputs, sources = {}, {}, {}
    for cell in spec.cells():
        own = spec.inputs_of(cell)
        for label, variant in variants.items():
            name = label if cell.inputs is None else f"{cell.inputs}-{label}"
            key = cell_key(cell.encoder, cell.backbone, name)
            if kind == "windows":
                inputs[key] = replace(own, tmin=variant.tmin, tmax=variant.tmax)
            else:
                inputs[key] = replace(own, channels=variant.channels)
            configs[key] = entries[cell.key]["config"]
            sources[key] = cell.key
    return configs, inputs, sources


def run_analysis(
    study_dir: Path,
    kind: str,
    variants_text: str | None,
    *,
    subjects: list[int] | None,
    seeds: int,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_concurrent: int | None = None,
) -> list[FinalRun]:
    """Train and test every study cell's best config on each window or region (resumed)."""
    if kind not in KINDS:
        raise ConfigError(f"analysis kind must be one of {', '.join(KINDS)}, got {kind!r}")
    study_dir = Path(study_dir).expanduser().resolve()
    spec = StudySpec.load(study_dir)
    protocol = spec.data_protocol
    if protocol is None:
        raise ConfigError(
            f"{study_dir}: the study predates recorded data protocols; re-run its sweep to analyse"
        )
    if kind == "windows":
        if not variants_text:
            raise ConfigError(f"--windows needs {' or '.join(WINDOW_FORMS)}")
        epoch = (protocol.times_s[0], protocol.times_s[-1])
        variants = window_variants(variants_text, epoch, protocol.sfreq)
    else:
        variants = region_variants(variants_text, protocol.channels)
    configs, inputs, sources = analysis_cells(study_dir, spec, variants, kind)
    return run_final(
        study_dir,
        configs,
        subjects=subjects,
        seeds=seeds,
        address=address,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_concurrent=max_concurrent,
        folder=f"{ANALYSIS_DIR}/{kind}",
        inputs=inputs,
        source={
            "analysis": kind,
            "variants": {label: v.to_text() for label, v in variants.items()},
            "cells": sources,
            "configs": "each study cell's best trial (epochs = its best validation epoch)",
        },
    )
