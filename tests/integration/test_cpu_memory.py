"""The training process keeps freed memory instead of page-faulting it in again every step."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from trainables.training.cpu_memory import retain_freed_memory

REFAULTS = """
import resource, sys
import numpy as np
from trainables.training.cpu_memory import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
for _ in range(2):  # warm up: the heap grows once
    np.ones(48 * 2**20 // 8).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    np.ones(48 * 2**20 // 8).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


def _faults(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", REFAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip())


@glibc
def test_freed_blocks_are_reused_without_page_faults() -> None:
    default, retained = _faults("default"), _faults("retain")
    assert default >= 100  # 5 x 48 MB mmapped afresh and faulted in (2680 on the dev machine)
    assert retained * 20 < default


@glibc
def test_retain_reports_success_on_glibc() -> None:
    assert retain_freed_memory() is True
