"""The tuning data's EEG facts for the report's protocol block.

A study records them in ``study.yaml`` (``data_protocol``) when it is created, so a report never
opens the data. A study saved before that is read as before: from the prepared-cache manifest
(a small JSON file) of its first tuning subject, when that is still on this machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from study.spec import StudySpec
from trainables.common.errors import UserError
from trainables.common.validation import validated
from trainables.things_eeg2.formats import FORMAT_LABELS
from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.prepared_cache import MANIFEST, default_cache_dir, entry_dir


@dataclass(frozen=True)
class EEGFacts:
    """Format, channels and sampling of the tuning EEG (None: not known)."""

    format: str | None = None
    channels: list[str] | None = None
    sfreq: float | None = None
    times_s: list[float] | None = None  # the first and last sample times
    train_repetitions: int | None = None


@dataclass
class CachedFacts:
    """The typed facts of a prepared-cache manifest read for an older study."""

    format: str | None = None
    ch_names: list[str] | None = None
    sfreq: float | None = None
    times: list[float] | None = None
    source_shape: list[int] | None = None


def format_label(fmt: str) -> str:
    """A release format's readable name (the code itself when it has none)."""
    return FORMAT_LABELS.get(fmt, fmt)


def tuning_eeg_facts(spec: StudySpec) -> EEGFacts:
    """The facts recorded in the spec, else those of the prepared cache, else none."""
    recorded = spec.data_protocol
    if recorded is not None:
        return EEGFacts(
            format=recorded.release_format,
            channels=list(recorded.channels),
            sfreq=recorded.sfreq,
            times_s=list(recorded.times_s),
            train_repetitions=recorded.train_repetitions_averaged,
        )
    return _cached_facts(spec) or EEGFacts()


def _cached_facts(spec: StudySpec) -> EEGFacts | None:
    """The first tuning subject's cache manifest; None when the data root, the subject or the
    cache entry is not there (e.g. the study folder was copied to another machine)."""
    data = spec.data
    try:
        layout = find_layout(Path(data.root))
        source = layout.eeg_file(data.tune_subjects[0], "train")
    except (UserError, IndexError):
        return None
    cache_dir = Path(data.cache_dir) if data.cache_dir else default_cache_dir(layout.root)
    path = entry_dir(cache_dir, source) / MANIFEST
    try:
        facts = validated(CachedFacts, json.loads(path.read_bytes()), str(path))
    except (OSError, ValueError, UserError):
        return None  # an unreadable cache only costs the report these facts
    times = facts.times
    shape = facts.source_shape
    return EEGFacts(
        format=facts.format,
        channels=facts.ch_names,
        sfreq=facts.sfreq,
        times_s=[times[0], times[-1]] if times else None,
        train_repetitions=shape[1] if shape and len(shape) > 1 else None,
    )
