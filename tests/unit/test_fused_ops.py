"""Each fused building block against the plain computation it replaces (float64 where exact)."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainables.models import fused_ops
from trainables.models.fused_ops import (
    COMPILED_ELU_MIN_SIZE,
    Dropout,
    compose_kernels,
    fold_batch_norm,
    large_elu_,
    tall_linear,
    window_linear,
    window_moments,
)

f64 = torch.float64


def _windows(eeg: torch.Tensor, width: int, stride: int) -> torch.Tensor:
    return eeg.transpose(1, 2).unfold(1, width, stride)


def test_composed_kernel_equals_two_convolutions() -> None:
    g = torch.Generator().manual_seed(0)
    first = torch.randn(6, 5, generator=g, dtype=f64)
    second = torch.randn(4, 6, 7, generator=g, dtype=f64)
    x = torch.randn(3, 1, 40, generator=g, dtype=f64)
    two = F.conv1d(F.conv1d(x, first.unsqueeze(1)), second)
    one = F.conv1d(x, compose_kernels(first, second).unsqueeze(1))
    torch.testing.assert_close(one, two)


@pytest.mark.parametrize(("width", "stride"), [(65, 1), (75, 5)])
def test_window_moments_equal_the_statistics_of_the_windows(width: int, stride: int) -> None:
    eeg = 3.0 + torch.randn(4, 5, 250 if stride == 5 else 100, dtype=f64)
    rows = _windows(eeg, width, stride).reshape(-1, width)
    mean, cov, count = window_moments(eeg, width, stride)
    assert count == rows.shape[0]
    torch.testing.assert_close(mean, rows.mean(0))
    torch.testing.assert_close(cov, torch.cov(rows.T, correction=0))


def test_folded_batch_norm_equals_batch_norm_after_the_map() -> None:
    torch.manual_seed(0)
    eeg = torch.randn(6, 3, 80, dtype=f64)
    kernel = torch.randn(4, 65, dtype=f64, requires_grad=True)
    bias = torch.randn(4, dtype=f64, requires_grad=True)
    folded_norm, plain_norm = nn.BatchNorm2d(4).double(), nn.BatchNorm2d(4).double()
    nn.init.normal_(folded_norm.weight, 1.0, 0.1)
    plain_norm.load_state_dict(folded_norm.state_dict())
    k, b = fold_batch_norm(kernel, bias, folded_norm, window_moments(eeg, 65, 1))
    folded = F.linear(_windows(eeg, 65, 1), k, b)
    mapped = F.linear(_windows(eeg, 65, 1), kernel, bias)
    plain = plain_norm(mapped.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(folded, plain)
    probe = torch.randn_like(plain)
    grads = torch.autograd.grad((folded * probe).sum(), [kernel, bias])
    expected = torch.autograd.grad((plain * probe).sum(), [kernel, bias])
    torch.testing.assert_close(grads[0], expected[0])
    torch.testing.assert_close(grads[1], expected[1], rtol=0, atol=1e-10)  # both zero
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(folded_norm, name), getattr(plain_norm, name))
    folded_norm.eval()
    plain_norm.eval()
    k, b = fold_batch_norm(kernel, bias, folded_norm, None)
    expected = plain_norm(mapped.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(F.linear(_windows(eeg, 65, 1), k, b), expected)


@pytest.mark.parametrize("rows", [64, 40, 31, 48 * 17])  # 16, 8 and 1 row blocks; a real front
def test_tall_linear_matches_linear_in_value_and_gradients(rows: int) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(rows, 9, dtype=f64, generator=g, requires_grad=True)
    weight = torch.randn(5, 9, dtype=f64, generator=g, requires_grad=True)
    bias = torch.randn(5, dtype=f64, generator=g, requires_grad=True)
    # The full Jacobian for the small shapes; at 816 rows (7,400 inputs) a random projection of it
    assert torch.autograd.gradcheck(tall_linear, (x, weight, bias), fast_mode=rows > 64)
    torch.testing.assert_close(tall_linear(x, weight, bias), F.linear(x, weight, bias))


@pytest.mark.parametrize("stride", [1, 5])
def test_window_linear_matches_linear_over_unfolded_windows(stride: int) -> None:
    g = torch.Generator().manual_seed(2)
    eeg = torch.randn(4, 3, 90, dtype=f64, generator=g)
    kernel = torch.randn(6, 20, dtype=f64, generator=g, requires_grad=True)
    bias = torch.randn(6, dtype=f64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k, b: window_linear(eeg, k, b, stride), (kernel, bias))
    expected = F.linear(_windows(eeg, 20, stride), kernel, bias)
    torch.testing.assert_close(window_linear(eeg, kernel, bias, stride), expected)


def test_window_linear_keeps_the_input_gradient_when_eeg_requires_it() -> None:
    eeg = torch.randn(2, 3, 40, dtype=f64, requires_grad=True)
    kernel, bias = torch.randn(4, 10, dtype=f64), torch.randn(4, dtype=f64)
    assert torch.autograd.gradcheck(lambda x: window_linear(x, kernel, bias, 1), (eeg,))


@pytest.mark.parametrize("size", [COMPILED_ELU_MIN_SIZE, 1000])
def test_large_elu_equals_elu_in_value_and_gradient(size: int) -> None:
    if shutil.which("g++") or shutil.which("c++"):  # else the F.elu fallback is what runs
        assert fused_ops._compiled_exp_elu_() is not None, "the compiled ELU kernel failed"
    torch.manual_seed(3)
    x = torch.randn(size) * 3
    grad = torch.randn(size)
    leaf = x.clone().requires_grad_()
    out = large_elu_(leaf * 1.0)
    (out * grad).sum().backward()
    ref = x.clone().requires_grad_()
    (F.elu(ref) * grad).sum().backward()
    torch.testing.assert_close(out, F.elu(x), rtol=1e-6, atol=2e-7)  # exp(x) - 1 vs expm1
    torch.testing.assert_close(leaf.grad, ref.grad, rtol=1e-6, atol=2e-7)


def test_large_elu_falls_back_to_elu_without_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused_ops, "_compiled_exp_elu_", lambda: None)
    x = torch.randn(COMPILED_ELU_MIN_SIZE)
    torch.testing.assert_close(large_elu_(x.clone()), F.elu(x))


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_keeps_1_minus_p_and_rescales(p: float) -> None:
    torch.manual_seed(0)
    dropout = Dropout(p)
    x = torch.full((400, 500), 2.0)
    out = dropout(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 2.0 / (1 - p)))
    grad = torch.autograd.grad(dropout(x.requires_grad_()).sum(), x)[0]
    assert grad.unique().tolist() == pytest.approx([0.0, 1 / (1 - p)])
    dropout.eval()
    assert dropout(x) is x
