"""One lock per study: `study sweep`, `resume` and `final` never drive the same study twice.

The lock is ``fcntl.flock`` on ``<study>/.lock``, held through an open file descriptor for the
command's lifetime. The kernel drops it when the process exits or dies (even by SIGKILL), so a
stale lock of a dead process never blocks. The holder writes its pid and host into the file for
the error message. The descriptor is not inherited by child processes (Ray's included).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainables.common.errors import ConfigError

LOCK_FILE = ".lock"


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return text or "another process"


def _acquire(path: Path) -> int:
    """An open descriptor of ``path`` holding its lock (retried if the file was replaced)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise ConfigError(f"{path}: a symbolic link; refusing to write through it") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"{path.parent}: the study is in use by {_holder(path)}; wait for it to finish "
                f"(or stop it) and try again"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file as we opened it: lock the new one


@contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """Hold ``<study>/.lock`` (the folder is created); ConfigError naming the holder if taken.

    If this command created the folder and left nothing in it, the folder is removed again.
    """
    study_dir = Path(study_dir)
    created = not study_dir.exists()
    study_dir.mkdir(parents=True, exist_ok=True)
    path = study_dir / LOCK_FILE
    fd = _acquire(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        if created and [p.name for p in study_dir.iterdir()] == [LOCK_FILE]:
            path.unlink()
            study_dir.rmdir()
        os.close(fd)
