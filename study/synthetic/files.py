"""What a `study synth` run owns in its --out folder, and how a rerun replaces only that.

A synth run lists every file it writes in ``synthetic.json`` under ``files`` (paths relative to
--out). It writes that list before its first data file (``complete: false``, no file facts yet)
and again at the end with each file's size and modification time (``complete: true``). A rerun
deletes the previous run's files only when everything in the folder is accounted for:

- a complete run's files must still have the recorded size and ``mtime_ns``. These come from
  ``os.stat`` alone (no reading: a full-scale tree is tens of GB), the same facts the prepared
  cache trusts; a file rewritten, replaced, touched or copied without its times counts as changed;
- an interrupted run's files, and the temporary files its atomic writes left, must be newer than
  its manifest, i.e. written by that run;
- nothing else may be there (the prepared cache ``.study-cache`` excepted, which is left alone),
  and no symbolic link anywhere: synth never writes or deletes through one.

Otherwise it refuses with a one-line error naming the first offending path (in sorted order).
`study check` refuses a tree whose manifest does not say ``complete: true``.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from trainables.common.errors import ConfigError, DataError
from trainables.things_eeg2.prepared_cache import CACHE_DIR_NAME

SYNTH_MANIFEST = "synthetic.json"
EEG_DIR, IMAGES_DIR, EMBEDDINGS_DIR = "eeg", "images", "embeddings"  # names the layout detects
RAW_DIR = "raw"  # `study synth --raw`: the raw release, for `study preprocess --raw`
TREE_FOLDERS = (EEG_DIR, IMAGES_DIR, EMBEDDINGS_DIR, RAW_DIR)
MAX_MANIFEST_BYTES = 64 << 20  # a full-scale manifest is about 3 MB
LINK = "is a symbolic link (`study synth` never writes or deletes through links)"
_TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")  # atomic_write's mkstemp names


@dataclass(frozen=True)
class PreviousRun:
    """The file list of the synth run that wrote a folder, as its manifest records it."""

    complete: bool
    files: dict[str, dict[str, int] | None]
    manifest_mtime_ns: int


def _refuse(path: Path, why: str, out: Path) -> NoReturn:
    raise ConfigError(
        f"{path}: {why}; refusing to replace --out {out} (delete it yourself or choose another)"
    )


def is_tree_path(rel: str) -> bool:
    """True for a plain relative path under eeg/, images/ or embeddings/ (no '..', no '.')."""
    parts = PurePosixPath(rel).parts
    return (
        len(parts) >= 2
        and parts[0] in TREE_FOLDERS
        and all(p not in ("", ".", "..") for p in parts)
        and "/".join(parts) == rel
    )


def _file_facts_ok(facts: Any) -> bool:
    return isinstance(facts, dict) and all(
        type(facts.get(key)) is int and facts[key] >= 0 for key in ("size", "mtime_ns")
    )


def read_previous_run(out: Path) -> PreviousRun:
    """The previous run's file list from ``out/synthetic.json``; refuses anything else."""
    path = out / SYNTH_MANIFEST
    if path.is_symlink():
        _refuse(path, LINK, out)
    if not path.is_file():
        _refuse(out, f"folder is not empty and holds no {SYNTH_MANIFEST}", out)
    info = path.stat()
    if info.st_size > MAX_MANIFEST_BYTES:
        _refuse(path, f"{info.st_size} bytes, too large for a synth manifest", out)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        _refuse(path, "not a readable JSON synth manifest", out)
    files = data.get("files") if isinstance(data, dict) else None
    complete = data.get("complete") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not isinstance(complete, bool):
        _refuse(path, "lists no files written by `study synth` (older or foreign manifest)", out)
    for rel, facts in files.items():
        if not is_tree_path(rel):
            _refuse(path, f"lists '{rel}', which is not a path of a synthetic tree", out)
        if (complete or facts is not None) and not _file_facts_ok(facts):
            _refuse(path, f"malformed size/mtime_ns entry for '{rel}'", out)
    return PreviousRun(complete, files, info.st_mtime_ns)


def _parent_dirs(files: dict[str, Any]) -> set[str]:
    dirs: set[str] = set()
    for rel in files:
        dirs.update(str(parent) for parent in PurePosixPath(rel).parents if str(parent) != ".")
    return dirs


def _leftover_of(name: str, rel_dir: str, listed: set[str]) -> bool:
    """True if ``name`` is an atomic-write temporary file of a listed file in ``rel_dir``."""
    match = _TEMP_FILE.match(name)
    if not match:
        return False
    target = match.group("name")
    return (f"{rel_dir}/{target}" if rel_dir else target) in listed


def _unchanged(st: os.stat_result, facts: dict[str, int] | None) -> bool:
    return facts is not None and (st.st_size, st.st_mtime_ns) == (facts["size"], facts["mtime_ns"])


class _Inventory:
    """Walks --out without following links and collects what the previous run wrote."""

    def __init__(self, out: Path, previous: PreviousRun) -> None:
        self.out = out
        self.previous = previous
        self.dirs_allowed = _parent_dirs(previous.files)
        self.listed = set(previous.files) | {SYNTH_MANIFEST}
        self.files: list[str] = []
        self.dirs: list[str] = []  # children before parents

    def walk(self, rel_dir: str = "") -> None:
        with os.scandir(self.out / rel_dir) as entries:
            ordered = sorted(entries, key=lambda entry: entry.name)
        for entry in ordered:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if not rel_dir and entry.name == CACHE_DIR_NAME:
                continue
            if entry.is_symlink():
                self.refuse(rel, LINK)
            if entry.is_dir(follow_symlinks=False):
                if rel not in self.dirs_allowed:
                    self.refuse(rel, f"folder not written by `study synth` ({SYNTH_MANIFEST})")
                self.walk(rel)
                self.dirs.append(rel)
            elif rel != SYNTH_MANIFEST:
                self.visit_file(entry, rel, rel_dir)

    def visit_file(self, entry: os.DirEntry[str], rel: str, rel_dir: str) -> None:
        st = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            self.refuse(rel, "not a regular file")
        previous = self.previous
        if rel in previous.files:
            if previous.complete and not _unchanged(st, previous.files[rel]):
                self.refuse(
                    rel,
                    f"changed since `study synth` wrote it ({SYNTH_MANIFEST} "
                    "records another size or modification time)",
                )
        elif previous.complete or not _leftover_of(entry.name, rel_dir, self.listed):
            self.refuse(rel, f"not written by `study synth` (not listed in {SYNTH_MANIFEST})")
        if not previous.complete and st.st_mtime_ns < previous.manifest_mtime_ns:
            self.refuse(rel, "older than the interrupted synth run that lists it")
        self.files.append(rel)

    def refuse(self, rel: str, why: str) -> NoReturn:
        _refuse(self.out / rel, why, self.out)


def clear_previous_run(out: Path) -> None:
    """Make ``out`` ready for a synth run: absent, empty, or a previous run's files removed.

    Nothing is deleted unless the whole folder passes the checks in the module docstring.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory (--out)")
    if not out.is_dir() or not any(out.iterdir()):
        return
    inventory = _Inventory(out, read_previous_run(out))
    inventory.walk()
    for rel in inventory.files:
        os.unlink(out / rel)
    for rel in inventory.dirs:
        os.rmdir(out / rel)


def make_parent_dirs(out: Path, files: list[str]) -> None:
    """Create the folders of ``files`` under ``out``, refusing a symbolic link on the way."""
    done: set[Path] = set()
    for rel in files:
        folder = out
        for part in PurePosixPath(rel).parent.parts:
            folder = folder / part
            if folder in done:
                continue
            if folder.is_symlink():
                _refuse(folder, LINK, out)
            folder.mkdir(exist_ok=True)
            done.add(folder)


def file_facts(out: Path, files: list[str]) -> dict[str, dict[str, int]]:
    """Size and mtime_ns of each written file (``os.lstat``; each must be a regular file)."""
    facts = {}
    for rel in files:
        st = os.lstat(out / rel)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{out / rel}: changed type while `study synth` was writing it")
        facts[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return facts


def check_synth_complete(root: Path) -> None:
    """DataError if ``root`` is a synthetic tree whose `study synth` run did not finish."""
    path = Path(root) / SYNTH_MANIFEST
    if not path.is_file():
        return
    try:
        complete = json.loads(path.read_bytes()).get("complete")
    except (OSError, ValueError, AttributeError):
        complete = None
    if complete is not True:
        raise DataError(
            f"{path}: incomplete synthetic dataset (its `study synth` run did not finish, or this "
            f"file is damaged); write it again with `study synth --out {root}`"
        )
