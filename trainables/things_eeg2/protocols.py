"""Subject protocols of final runs: who a run trains on and who it is tested on (no numpy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainables.common.errors import ConfigError

PROTOCOLS = ("intra", "loso")


@dataclass(frozen=True)
class SubjectFold:
    """Train on ``train_subjects``, evaluate on ``eval_subject``."""

    train_subjects: list[int]
    eval_subject: int


def leave_one_subject_out(subjects: Sequence[int]) -> list[SubjectFold]:
    """One fold per subject: train on all the others."""
    subjects = sorted(set(subjects))
    if len(subjects) < 2:
        raise ConfigError(f"leave-one-subject-out needs at least 2 subjects, got {subjects}")
    return [
        SubjectFold(train_subjects=[s for s in subjects if s != held], eval_subject=held)
        for held in subjects
    ]


def train_subjects(protocol: str, subject: int, subjects: Sequence[int]) -> list[int]:
    """Who a run trains on: the tested subject (intra) or all the others (loso)."""
    if protocol == "intra":
        return [subject]
    if protocol != "loso":
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    folds = {fold.eval_subject: fold for fold in leave_one_subject_out(subjects)}
    if subject not in folds:
        raise ConfigError(f"subject {subject} is not among the final's subjects {list(subjects)}")
    return folds[subject].train_subjects
