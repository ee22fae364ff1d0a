"""Where a number came from: code version and key package versions."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

KEY_PACKAGES = ("torch", "ray", "optuna", "numpy", "dreamsim")


def git_commit(repo: Path | None = None) -> str:
    """The checkout's commit (with '+dirty' for uncommitted changes), or 'unknown'."""
    cwd = repo or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance() -> dict[str, object]:
    return {"code_version": git_commit(), "packages": package_versions()}
