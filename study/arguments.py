"""Parsing and bounds of the list- and number-valued command-line arguments of the subcommands.

Every value is checked before anything is built from it: a subject range is bounded before it
is expanded, a seed count before ``range(seeds)``. Limits are generous but finite, so a typo
such as ``1-99999999999`` is one error line, not a process killed for lack of memory.
"""

from __future__ import annotations

import argparse
import math
import re

from trainables.common.errors import ConfigError

MAX_SUBJECT = 999  # THINGS-EEG2 has 10 subjects; folders are sub-01, sub-02, ...
MAX_SEEDS = 1000  # final runs per backbone and subject
MAX_EPOCHS = 100_000
MAX_TRIALS = 100_000  # sweep trials per backbone
MAX_CONCURRENT = 10_000
MAX_BATCH = 65_536  # images per forward pass
MAX_WORKERS = 1024  # image decoding processes
SEED_HIGH = 2**32 - 1  # numpy's and Optuna's samplers take seeds in [0, 2**32)
RESOURCE_LIMITS: dict[str, tuple[float, float]] = {
    "cpus_per_trial": (0.0001, 4096.0),  # Ray resources have a precision of 1e-4
    "gpus_per_trial": (0.0, 1024.0),
    "max_concurrent": (1, MAX_CONCURRENT),
}
_SUBJECT_PART = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def shown(value: object, limit: int = 40) -> str:
    """``value`` for a one-line message: quoted, control characters escaped, long input cut."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _subject_number(digits: str, flag: str, text: str) -> int:
    significant = digits.lstrip("0")
    value = int(significant or "0") if len(significant) <= len(str(MAX_SUBJECT)) else -1
    if not 1 <= value <= MAX_SUBJECT:
        raise ConfigError(
            f"{flag} {shown(text)}: subject numbers must be in 1..{MAX_SUBJECT}, "
            f"got {shown(digits)}"
        )
    return value


def parse_subjects(text: str, flag: str = "--subjects") -> list[int]:
    """Parse a subject list such as ``"1-3,5"`` into sorted unique subject numbers.

    Each number is bounded (1..MAX_SUBJECT) before a range is expanded.
    """
    subjects: set[int] = set()
    for part in text.split(","):
        match = _SUBJECT_PART.fullmatch(part.strip())
        if not match:
            raise ConfigError(f"{flag} {shown(text)}: use subject numbers and ranges like 1-3,5")
        first = _subject_number(match.group(1), flag, text)
        last = _subject_number(match.group(2) or match.group(1), flag, text)
        if last < first:
            raise ConfigError(f"{flag} {shown(text)}: range {shown(part.strip())} runs backwards")
        subjects.update(range(first, last + 1))
    return sorted(subjects)


def parse_names(text: str, flag: str = "--backbones") -> list[str]:
    """Parse a comma-separated list of names (blank entries dropped, printable names only)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if not name.isprintable():
            raise ConfigError(f"{flag}: {shown(name)} is not a printable name")
    return names


def check_numbers(args: argparse.Namespace, limits: dict[str, tuple[float, float]]) -> None:
    """Refuse a numeric flag (``dest`` -> inclusive limits) that is out of range or not finite.

    Flags that were not given (None) are skipped; a repeated flag (a list) is checked per value.
    """
    for dest, (low, high) in limits.items():
        given = getattr(args, dest, None)
        for value in given if isinstance(given, list) else [given]:
            if value is None:
                continue
            finite = not isinstance(value, float) or math.isfinite(value)
            if not finite or not low <= value <= high:
                flag = "--" + dest.replace("_", "-")
                bounds = "..".join(str(b) if isinstance(b, int) else f"{b:g}" for b in (low, high))
                raise ConfigError(f"{flag} must be in {bounds}, got {shown(value)}")
