"""Parsing of list-valued command-line arguments shared by several subcommands."""

from __future__ import annotations

import re

from trainables.errors import ConfigError


def parse_subjects(text: str) -> list[int]:
    """Parse a subject list such as ``"1-3,5"`` into sorted unique subject numbers."""
    subjects: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ConfigError(f"bad subject list '{text}': use numbers and ranges like 1-3,5")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ConfigError(f"bad subject range '{part}' in '{text}'")
        subjects.update(range(first, last + 1))
    return sorted(subjects)


def parse_names(text: str) -> list[str]:
    """Parse a comma-separated list of names (blank entries dropped)."""
    return [name.strip() for name in text.split(",") if name.strip()]
