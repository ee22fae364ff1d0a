"""Backbone naming rules that need no model: transforms, aligned/unaligned pairs (torch-free).

A backbone name is ``<base>`` or ``<base>+<transform>`` (a linear map applied to the base's
embedding). Every aligned backbone is paired with its unaligned base: DreamSim's ``aligned_X``
(and any backbone named ``aligned_X``) with ``X``, and ``<base>+<transform>`` with ``<base>``.
"""

from __future__ import annotations

import re

TRANSFORM_SEPARATOR = "+"
ALIGNED_PREFIX = "aligned_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def split_transform(name: str) -> tuple[str, str | None]:
    """``(base, transform)`` of ``<base>+<transform>``; ``(name, None)`` without a transform."""
    base, sep, transform = name.rpartition(TRANSFORM_SEPARATOR)
    return (base, transform) if sep and base and transform else (name, None)


def unaligned_base(name: str) -> str | None:
    """The unaligned backbone ``name`` is compared with, or None when ``name`` is not aligned."""
    base, transform = split_transform(name)
    if transform is not None:
        return base
    if name.startswith(ALIGNED_PREFIX) and len(name) > len(ALIGNED_PREFIX):
        return name.removeprefix(ALIGNED_PREFIX)
    return None


def aligned_pairs(backbones: list[str]) -> list[tuple[str, str]]:
    """``(aligned, unaligned base)`` for every listed aligned backbone whose base is listed too."""
    present = set(backbones)
    return [(b, base) for b in backbones if (base := unaligned_base(b)) in present]
