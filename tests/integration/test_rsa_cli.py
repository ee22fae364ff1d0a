"""`study rsa` in a fresh interpreter: outputs, no torch or Ray imported, one-line errors before
scipy and matplotlib are imported; the twin's aligned > unaligned RSA ordering over more seeds
(slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.rsa_twin import BACKBONES, LATENT, WINDOWED, check_twin_ordering, rsa_twin
from trainables.analysis.rsa_run import run_rsa

REPO = Path(__file__).resolve().parents[2]
WATCHED = ("torch", "ray", "scipy", "matplotlib")


def study_rsa(*args: str) -> subprocess.CompletedProcess:
    """Run ``study rsa ARGS`` in a fresh interpreter; its stdout ends with the heavy packages
    it left imported."""
    probe = (
        "import sys\nfrom study.cli import main\n"
        f"code = main(['rsa', *{list(args)!r}])\n"
        f"print('loaded:', *sorted({{m.split('.')[0] for m in sys.modules}} & {set(WATCHED)!r}))\n"
        "sys.exit(code)"
    )
    return subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)


@pytest.mark.slow
def test_study_rsa_writes_its_outputs_without_torch_or_ray(twin: Path, tmp_path: Path) -> None:
    out = tmp_path / "rsa"
    run = study_rsa(
        "--data", str(twin), "--backbones", "synclr,aligned_synclr",
        "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    *printed, loaded = run.stdout.splitlines()
    assert loaded == "loaded: matplotlib scipy"  # neither torch nor ray
    assert "| synclr | 2 |" in "\n".join(printed)
    assert printed[-1].startswith(f"rsa written to {out} (4 files)")
    assert sorted(p.name for p in out.iterdir()) == [
        "rsa.csv", "rsa.json", "rsa_noise_ceiling.csv", "rsa_over_time.png",
    ]  # fmt: skip
    record = json.loads((out / "rsa.json").read_text())
    assert record["settings"]["window_s"] is None and record["windows"]["width_samples"] == 1
    assert len(record["noise_ceiling"]["upper"]) == 100
    assert record["synthetic"]["scale"] == "tiny"


def test_study_rsa_bad_input_is_one_line_exit_2(twin: Path, tmp_path: Path) -> None:
    run = study_rsa("--data", str(twin), "--backbones", "dino", "--out", str(tmp_path))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"error: {twin / 'embeddings' / 'dino' / 'manifest.json'}: no embedding store for "
        "backbone 'dino' (stores found: aligned_synclr, synclr); run `study embed --backbones "
        "dino` first"
    ]
    assert list(tmp_path.iterdir()) == []
    assert run.stdout.strip() == "loaded:"  # failed before importing scipy or matplotlib


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aligned_ordering_holds_over_seeds(
    synth_twin: Callable[..., Path], tmp_path: Path, seed: int
) -> None:
    root = rsa_twin(synth_twin, seed)
    result = run_rsa(root, [*BACKBONES, LATENT], WINDOWED, cache_dir=tmp_path)
    check_twin_ordering(result)
