"""The study folder's trust boundary: the files Ray unpickles when it restores a Tuner.

``Tuner.restore`` unpickles ``<experiment>/tuner.pkl``; its ``fit()`` then copies every top-level
``.json``/``.pkl`` file of the experiment folder to the driver and unpickles the newest
``experiment_state-*.json`` (CLOUDPICKLE_FALLBACK values and hex-pickled trial fields),
``searcher-state-*.pkl``, ``search_gen_state-*.json``, ``basic-variant-state-*.json`` and
``callback-states-*.pkl``; the result grid unpickles each errored trial's ``error.pkl``. Whoever
can write those files runs code as the user who resumes. So before a restore:

1. the study folder, the experiment folder, its trial folders and those files must be owned by
   the current user and not writable by group or others (files must not be symbolic links);
2. if the driver that last ran the experiment left ``fit()`` alive (normally, Ctrl-C or an
   exception), it recorded a SHA-256 digest of each of those files in a private folder outside
   the study (``$XDG_STATE_HOME/aligned-eeg-study/driver-digests``, default
   ``~/.local/state/...``); every file must still match, and none may have appeared since. A
   driver killed with SIGKILL records nothing (its record is removed when ``fit()`` starts), so
   after a kill only check 1 applies.

Nothing here unpickles: the experiment state is read as plain JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from trainables.common.atomic import atomic_write
from trainables.common.errors import ConfigError, DataError

STATE_SUFFIXES = (".json", ".pkl")
STATE_GLOB = "experiment_state-*.json"
TUNER_FILE = "tuner.pkl"
# the search state Ray saves next to the experiment state: a sweep's searcher, final runs' grid
SEARCHER_GLOBS = ("search_gen_state-*.json", "basic-variant-state-*.json")
TRIAL_PICKLE = "error.pkl"
APP = "aligned-eeg-study"
TERMINAL = ("TERMINATED", "ERROR")
HINT = "Ray would unpickle it on restore (see README, Security notes)"


def current_uid() -> int:
    return os.geteuid()


def restore_files(experiment: Path) -> list[Path]:
    """Every file of ``experiment`` that a Tuner restore may unpickle, sorted."""
    experiment = Path(experiment)
    if not experiment.is_dir():
        return []
    files = [p for p in experiment.iterdir() if p.suffix in STATE_SUFFIXES]
    files += [p for p in experiment.glob(f"*/{TRIAL_PICKLE}")]
    return sorted(files)


def trial_dirs(experiment: Path) -> list[Path]:
    """The experiment's trial folders (every sub-folder; Ray writes nothing else there)."""
    return sorted(p for p in Path(experiment).iterdir() if p.is_dir() and not p.is_symlink())


def _check_owner(path: Path, st: os.stat_result) -> None:
    if st.st_uid != current_uid():
        raise ConfigError(
            f"{path}: owned by uid {st.st_uid}, not by you (uid {current_uid()}); "
            f"refusing to restore: {HINT}"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{path}: writable by group or others; refusing to restore: {HINT} "
            f"(`chmod -R go-w` the study if you trust its contents)"
        )


def check_permissions(study_dir: Path, experiment: Path) -> None:
    """Refuse unless everything a restore of ``experiment`` reads is the user's alone."""
    study_dir, experiment = Path(study_dir), Path(experiment)
    between = reversed(experiment.relative_to(study_dir).parents[:-1])
    chain = [study_dir, *(study_dir / part for part in between), experiment]
    for folder in dict.fromkeys(chain):
        _check_owner(folder, folder.stat())
    for path in [*trial_dirs(experiment), *restore_files(experiment)]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            raise ConfigError(f"{path}: a symbolic link; refusing to restore: {HINT}")
        _check_owner(path, st)


def read_state(experiment: Path) -> dict[str, str] | None:
    """Trial id -> status from the newest experiment state (plain JSON), or None if none."""
    states = sorted(Path(experiment).glob(STATE_GLOB), key=lambda p: p.name)
    if not states:
        return None
    path = states[-1]
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        trials = [json.loads(entry[0]) for entry in state["trial_data"]]
        return {str(t["trial_id"]): str(t["status"]) for t in trials}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise DataError(
            f"{path}: damaged experiment state ({type(exc).__name__}); Ray would silently "
            f"restart the experiment and lose its trials; restore the file or move "
            f"{experiment} away to start it over"
        ) from None


def restorable(experiment: Path) -> bool:
    """What ``Tuner.can_restore`` answers for a local folder: ``tuner.pkl`` is there."""
    return (Path(experiment) / TUNER_FILE).is_file()


def check_state(experiment: Path) -> dict[str, str]:
    """The trials a restore must keep; refuse when Ray would silently start over instead."""
    state = read_state(experiment)
    if trial_dirs(experiment) and (state is None or not restorable(experiment)):
        missing = TUNER_FILE if not restorable(experiment) else STATE_GLOB
        raise DataError(
            f"{experiment}: has trial folders but no {missing}; Ray would silently start the "
            f"experiment over; restore the file or move the folder away to start it over"
        )
    if state and not any(any(Path(experiment).glob(p)) for p in SEARCHER_GLOBS):
        raise DataError(
            f"{experiment}: has an experiment state but no searcher state ({SEARCHER_GLOBS[0]}); "
            f"Ray would restart the search and run more trials than the budget; restore the "
            f"file or move the folder away to start it over"
        )
    return state or {}


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def digest_dir() -> Path:
    """The private folder of driver digests (outside every study folder)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / APP / "driver-digests"


def digest_record(experiment: Path) -> Path:
    key = hashlib.sha256(str(Path(experiment).resolve()).encode()).hexdigest()[:32]
    return digest_dir() / f"{key}.json"


def forget_digests(experiment: Path) -> None:
    """Drop the record when a driver starts ``fit()`` (it rewrites the files from now on)."""
    digest_record(experiment).unlink(missing_ok=True)


def record_digests(experiment: Path) -> None:
    """Record the digest of every restore file, as the driver leaves ``fit()``."""
    experiment = Path(experiment).resolve()
    files = {str(p.relative_to(experiment)): _digest(p) for p in restore_files(experiment)}
    folder = digest_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    text = json.dumps({"experiment": str(experiment), "files": files}, indent=1)
    record = digest_record(experiment)
    atomic_write(record, lambda tmp: tmp.write_text(text))
    os.chmod(record, 0o600)


def verify_digests(experiment: Path) -> None:
    """Refuse when a restore file changed or appeared since the recording driver left fit()."""
    record = digest_record(experiment)
    if not record.is_file():
        return
    _check_owner(record.parent, record.parent.stat())
    _check_owner(record, record.lstat())
    try:
        recorded = json.loads(record.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{record}: unreadable digest record; delete it to continue") from None
    experiment = Path(experiment).resolve()
    for path in restore_files(experiment):
        name = str(path.relative_to(experiment))
        if name not in recorded:
            raise ConfigError(f"{path}: appeared after the last driver exited; {HINT}")
        if _digest(path) != recorded[name]:
            raise ConfigError(f"{path}: changed after the last driver exited; {HINT}")


def check_restore(study_dir: Path, experiment: Path) -> dict[str, str]:
    """All checks before restoring ``experiment``; returns its trials (id -> status)."""
    if not Path(experiment).is_dir():
        return {}
    check_permissions(study_dir, experiment)
    trials = check_state(experiment)
    verify_digests(experiment)
    return trials


def check_complete(experiment: Path, budget: int, before: dict[str, str]) -> dict[str, str]:
    """After ``fit()``: every kept trial is still there and exactly the budget ran.

    A run with unfinished trials was interrupted (KeyboardInterrupt); fewer or more trials than
    the budget, or trials that vanished, mean Ray restarted from a lost or damaged state.
    """
    after = read_state(experiment) or {}
    if any(status not in TERMINAL for status in after.values()):
        raise KeyboardInterrupt
    lost = sorted(set(before) - set(after))
    if lost:
        raise DataError(
            f"{experiment}: trial(s) {', '.join(lost[:3])} vanished from the experiment state; "
            f"Ray restarted the experiment, so equal budgets cannot be guaranteed"
        )
    if len(after) < budget:
        raise DataError(
            f"{experiment}: {len(after)} of {budget} trials ran and the searcher stopped; the "
            f"experiment state was lost or damaged, so equal budgets cannot be guaranteed"
        )
    if len(after) > budget:
        raise DataError(
            f"{experiment}: {len(after)} trials ran for a budget of {budget} (the searcher's "
            f"saved state was older than the experiment's), so equal budgets cannot be "
            f"guaranteed; move the folder away to start it over"
        )
    return after
