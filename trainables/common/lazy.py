"""Lazy re-exports for package ``__init__`` files: a public name imports its module on first use.

Keeps ``import trainables.<package>.<light module>`` from importing torch or Ray through the
package's ``__init__`` (the CLI answers ``--help`` without them).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package``: each name -> the submodule defining it."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)

    return sorted(exports), __getattr__
