"""The training loop's device-specific paths, exercised on the CPU (the CUDA run is
tests/benchmarks/gpu_check.py): device choice, bf16 autocast selection, and a whole run with
autocast active in every place the loop wraps (training step, validation, test, similarity)."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from tests.helpers.toy_data import toy_data
from trainables.common.errors import ConfigError
from trainables.training import loop
from trainables.training.config import TrainConfig

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
CONFIG = {"epochs": 2, "batch_size": 32, "latent_dim": 16, "seed": 1}

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine")


@no_cuda
def test_cuda_without_a_device_is_a_config_error_and_auto_falls_back_to_cpu() -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        loop.resolve_device("cuda")
    assert loop.resolve_device("auto") == CPU
    assert loop.resolve_device("cpu") == CPU


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # autocast objects still built
def test_bf16_autocast_is_selected_on_cuda_only() -> None:
    on_cuda = loop._autocast(CUDA, bf16=True)
    assert isinstance(on_cuda, torch.autocast)
    assert (on_cuda.device, on_cuda.fast_dtype) == ("cuda", torch.bfloat16)
    assert isinstance(loop._autocast(CUDA, bf16=False), contextlib.nullcontext)
    assert isinstance(loop._autocast(CPU, bf16=True), contextlib.nullcontext)


def _cpu_bf16(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """What ``_autocast`` gives on CUDA, on the CPU: bf16 autocast when asked."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def test_a_whole_run_under_bf16_autocast_stays_close_to_fp32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = toy_data(n_train=128, n_val=32, n_test=32, n_subjects=1)
    config = TrainConfig.from_dict(CONFIG)
    fp32 = loop.train(config, data, evaluate_test=True)
    entered = []
    real = _cpu_bf16

    def counting(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
        entered.append(bf16)
        return real(device, bf16)

    monkeypatch.setattr(loop, "_autocast", counting)
    bf16 = loop.train(config, data, evaluate_test=True)
    assert entered and all(entered)  # config.bf16 (default true) reached every wrapped region
    assert bf16.test_similarity is not None and bf16.test_similarity.dtype.name == "float32"
    for key in ("train_loss", "val_loss", "test_loss"):
        a, b = fp32.final[key], bf16.final[key]
        assert math.isfinite(b) and abs(a - b) <= 0.1 * abs(a), (key, a, b)
    assert all(0.0 <= bf16.final[k] <= 1.0 for k in ("val_top1", "test_top5"))
    assert bf16.final != fp32.final  # bf16 really ran: not bit for bit the fp32 run
