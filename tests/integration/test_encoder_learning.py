"""Learning with non-NICE encoders, end to end on the synthetic twin (readers -> cache -> loop).

The NICE counterpart is tests/unit/test_learning.py (same twin). These encoders learn more
slowly per second of CPU than NICE's fused path (ATM-S: about 5x NICE's compute per sample;
ATCNet's convolutions over 64-sample kernels), so this is a slow test: about 2 minutes on the
2-core machine under load (4 runs of 4 epochs). ATCNet trains at batch 64 here: at 256 the small
twin's 2640 training pairs give 10 steps per epoch, too few for it in 4 epochs.

Margins measured over training seeds 0-2 (same twin): val top-5 >= 4.8x chance (atms) and
4.0x (atcnet); test top-1 >= 12x and 7x; aligned - base test top-1 >= 0.26 and 0.20.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.loader import load_decoding_data
from trainables.training.config import TrainConfig
from trainables.training.loop import train

pytestmark = pytest.mark.slow

SETTINGS: dict[str, dict[str, Any]] = {
    "atms": {},
    "atcnet": {"batch_size": 64},
}


@pytest.fixture(scope="module")
def small_twin(synth_twin: Callable[..., Path]) -> Path:
    return synth_twin(scale="small", subjects=[1], images=False)


def _final_metrics(root: Path, backbone: str, model: str) -> dict[str, float]:
    data = load_decoding_data(find_layout(root), backbone, [1], include_test=True)
    config = TrainConfig.from_dict({"model": model, "epochs": 4, "seed": 0, **SETTINGS[model]})
    result = train(config, data, evaluate_test=True)
    assert result.model == model
    return result.final


@pytest.mark.parametrize("model", sorted(SETTINGS))
def test_encoder_learns_and_aligned_beats_unaligned(small_twin: Path, model: str) -> None:
    base = _final_metrics(small_twin, "synclr", model)
    aligned = _final_metrics(small_twin, "aligned_synclr", model)
    for metrics in (base, aligned):
        assert metrics["val_top5"] >= 3 * metrics["val_chance_top5"]
        assert metrics["test_top1"] >= 5 * metrics["test_chance_top1"]
    # The twin gives aligned backbones the larger share of the perceptual latent (0.8 vs 0.4).
    assert aligned["val_top5"] > base["val_top5"]
    assert aligned["test_top1"] > base["test_top1"] + 0.1
