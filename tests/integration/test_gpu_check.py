"""tests/benchmarks/gpu_check.py runs every step in its CPU dry run, so the GPU script cannot rot
between the occasions a GPU is lent."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
CHECKS = (
    "fused = plain NICE, fp32",
    "fused NICE, bf16 autocast vs fp32",
    "2 epochs, one subject 384x17x100, bf16",
    "learning on the tiny twin, bf16, 2 epochs",
    "concurrent trials per device (same subject)",
    "study embed images/s, batched vs per-image",
)


@pytest.mark.slow
@pytest.mark.extended
def test_gpu_check_dry_run_prints_every_row_of_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout[done.stdout.index("| check | result | verdict |") :].splitlines()[2:]
    rows = [line.split(" | ")[0].removeprefix("| ") for line in table if line.startswith("| ")]
    assert rows == list(CHECKS)
    share = re.search(r"\| (\d+) before per-trial samples/s halves \((1: [\d,]+)", done.stdout)
    assert share is not None and int(share.group(1)) in (1, 2)  # the dry run tries 1 and 2
