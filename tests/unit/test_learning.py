"""Learning, verified end to end on the synthetic twin: readers -> cache -> training loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.loader import load_decoding_data
from trainables.training.config import TrainConfig
from trainables.training.loop import train


@pytest.fixture(scope="module")
def small_twin(synth_twin: Callable[..., Path]) -> Path:
    return synth_twin(scale="small", subjects=[1], images=False)


def _final_metrics(root: Path, backbone: str) -> dict[str, float]:
    data = load_decoding_data(find_layout(root), backbone, [1], include_test=True)
    # 4 epochs (about 5 s a backbone on 2 cores): margins over 3 twin/training seeds were
    # >= 6x chance (val top-5), >= 17x (test top-1) and >= 0.34 (aligned - base test top-1)
    result = train(TrainConfig(epochs=4, seed=0), data, evaluate_test=True)
    return result.final


def test_short_cpu_run_learns_and_aligned_beats_unaligned(small_twin: Path) -> None:
    base = _final_metrics(small_twin, "synclr")
    aligned = _final_metrics(small_twin, "aligned_synclr")
    for metrics in (base, aligned):
        assert metrics["val_top5"] >= 4 * metrics["val_chance_top5"]
        assert metrics["test_top1"] >= 10 * metrics["test_chance_top1"]
    # The twin gives aligned backbones the larger share of the perceptual latent (0.8 vs 0.4).
    assert aligned["val_top5"] > base["val_top5"]
    assert aligned["test_top1"] > base["test_top1"] + 0.1
