"""Exact, faster building blocks of the fused NICE forward pass (see trainables/models/nice.py).

Each one computes what a plain layer does - same function, same gradients up to float rounding -
with fewer FLOPs or fewer passes over the large (batch, time, channel, filter) activation.
Tests: tests/unit/test_models.py (fused path == plain layer stack) and tests/unit/test_fused_ops.py.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def compose_kernels(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Kernel (out, k1 + k2 - 1) of conv by ``first`` (mid, k1) then ``second`` (out, mid, k2).

    Tap j of the result sums ``second[o, m, s] * first[m, i]`` over m and s + i = j: one small
    matmul, then row s shifted right by s (pad to k1 + k2, re-read rows one shorter), summed.
    """
    k1, (out, _, k2) = first.shape[-1], second.shape
    products = F.pad(second.transpose(1, 2) @ first, (0, k2))
    width = k1 + k2 - 1
    return products.flatten(1)[:, : k2 * width].reshape(out, k2, width).sum(1)


def window_moments(
    eeg: torch.Tensor, width: int, stride: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Mean (width,), biased covariance (width, width) and count of the front's input windows.

    Every (sample, channel) row of ``eeg`` is cut into windows ``[t * stride, t * stride + width)``;
    the statistics of all of them come from the (time x time) Gram matrix of the rows, summed
    along its diagonal blocks: float64, a few MFLOP instead of a pass over the windows. The
    moments stay differentiable in ``eeg``, so the gradient with respect to the input (saliency)
    is the plain stack's too; with EEG that needs no gradient (training) autograd skips it.
    """
    rows = eeg.reshape(-1, eeg.shape[-1]).double()
    steps = (rows.shape[1] - width) // stride + 1
    count = rows.shape[0] * steps
    blocks = (rows.T @ rows).unfold(0, width, stride).unfold(1, width, stride)
    gram = blocks.diagonal(dim1=0, dim2=1).sum(-1) / count
    mean = rows.sum(0).unfold(0, width, stride).sum(0) / count
    return mean, gram - torch.outer(mean, mean), count


def fold_batch_norm(
    kernel: torch.Tensor,
    bias: torch.Tensor,
    norm: nn.BatchNorm2d,
    moments: tuple[torch.Tensor, torch.Tensor, int] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``kernel``/``bias`` of a linear map with the BatchNorm ``norm`` after it folded in.

    ``moments`` (training) are the statistics of the map's inputs in this batch; without them
    (evaluation) the running statistics are folded. In training the batch mean and variance of
    every filter follow exactly from the moments (mean k.m + b, variance k C k), so the normalised
    output is one linear map of the windows: the same function and gradients as BatchNorm on the
    map's output, without the passes over that large tensor. The running statistics update
    exactly as ``F.batch_norm`` does.
    """
    k = kernel.double()
    if moments is not None:
        window_mean, window_cov, count = moments
        mean = k @ window_mean + bias.double()
        var = ((k @ window_cov) * k).sum(-1)
        update_running_stats(norm, mean.detach(), var.detach() * count / max(count - 1, 1))
    else:
        mean, var = norm.running_mean.double(), norm.running_var.double()
    scale = norm.weight.double() / torch.sqrt(var + norm.eps)
    folded_bias = norm.bias.double() + (bias.double() - mean) * scale
    return (k * scale[:, None]).to(kernel.dtype), folded_bias.to(kernel.dtype)


def update_running_stats(norm: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor) -> None:
    """``norm``'s running mean/variance update for one training batch, as nn.BatchNorm does it."""
    norm.num_batches_tracked.add_(1)
    norm.running_mean.lerp_(mean.to(norm.running_mean.dtype), norm.momentum)
    norm.running_var.lerp_(var.to(norm.running_var.dtype), norm.momentum)


def batch_norm_last(x: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
    """BatchNorm2d ``norm`` on a channels-last tensor, updating its buffers the same way."""
    if norm.training and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
    flat = F.batch_norm(
        x.reshape(-1, x.shape[-1]),
        norm.running_mean,
        norm.running_var,
        norm.weight,
        norm.bias,
        norm.training,
        norm.momentum,
        norm.eps,
    )
    return flat.reshape(x.shape)


ROW_BLOCKS = 16


class RowBlockLinear(torch.autograd.Function):
    """``F.linear`` of a contiguous (..., in) input whose weight gradient is a batched matmul over
    blocks of its rows, summed: MKL runs one (out x rows) @ (rows x in) product with its long
    inner dimension at about two thirds of that speed on the CPU (this model's front at batch
    256 on 2 cores: 10.5 vs 15 ms). Shapes are handled inside, so no view of the output escapes
    (an in-place op on one would copy). Under autocast the backward runs in the forward's
    autocast state, so its products see the dtypes the forward's did."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        rows = x.view(-1, x.shape[-1])
        grad = grad.reshape(-1, grad.shape[-1])
        grad_x = (grad @ weight).view(x.shape) if ctx.needs_input_grad[0] else None
        blocks = math.gcd(rows.shape[0], ROW_BLOCKS)
        per_block = grad.view(blocks, -1, grad.shape[1]).transpose(1, 2)
        grad_weight = torch.bmm(per_block, rows.view(blocks, -1, rows.shape[1])).sum(0)
        return grad_x, grad_weight, grad.sum(0) if ctx.has_bias else None


def tall_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.linear`` over the last dimension; on the CPU through RowBlockLinear."""
    if x.device.type != "cpu":
        return F.linear(x, weight, bias)
    return RowBlockLinear.apply(x.contiguous(), weight, bias)


def window_linear(
    eeg: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor, stride: int
) -> torch.Tensor:
    """(batch, steps, channels, filters): ``kernel`` (filters, width) and ``bias`` applied to
    every time window ``[t * stride, t * stride + width)`` of every channel of ``eeg``.

    On the CPU (EEG without gradient) the windows are copied once into rows with a trailing
    column of ones, so the bias is one more kernel tap and its gradient comes out of the weight
    gradient's batched matmul instead of a separate pass over the activation.
    """
    width = kernel.shape[1]
    windows = eeg.transpose(1, 2).unfold(1, width, stride)
    if eeg.device.type != "cpu" or eeg.requires_grad:
        return F.linear(windows, kernel, bias)
    rows = eeg.new_empty(*windows.shape[:-1], width + 1)
    rows[..., :width] = windows
    rows[..., width] = 1.0
    return RowBlockLinear.apply(rows, torch.cat([kernel, bias[:, None]], dim=1), None)


class Dropout(nn.Dropout):
    """nn.Dropout whose CPU masks are uniform draws ``>= p``: the same distribution as the
    bernoulli kernel F.dropout uses there, at a third of its cost (1.8 vs 5.7 ms for a
    256 x 36 x 40 mask on 2 cores)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        keep = torch.rand_like(x) >= self.p
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


COMPILED_ELU_MIN_SIZE = 2**22


def _exp_elu_(x: torch.Tensor) -> torch.Tensor:
    return x.copy_(torch.where(x > 0, x, torch.exp(x) - 1.0))


@functools.cache
def _compiled_exp_elu_() -> Any:
    """``_exp_elu_`` compiled by inductor (one in-place loop, vectorised exp), or None where
    compiling fails (no C++ compiler): then the caller falls back to F.elu, with one warning."""
    compiled = torch.compile(_exp_elu_, dynamic=True)
    try:
        compiled(torch.linspace(-2.0, 2.0, 64))
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: use eager F.elu
        warnings.warn(f"ELU kernel not compiled ({exc!r:.200}); using F.elu", stacklevel=3)
        return None
    return compiled


class _ExpElu(torch.autograd.Function):
    """In-place ELU as exp(x) - 1 in one compiled loop; backward from the result, as F.elu's
    in-place form does (no exp). PyTorch's CPU ELU kernel evaluates expm1: 2.4x slower here."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        _compiled_exp_elu_()(x)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return torch.ops.aten.elu_backward(grad, 1.0, 1, 1, True, out)


def large_elu_(x: torch.Tensor) -> torch.Tensor:
    """In-place ELU of the front activation.

    On the CPU, for tensors of at least COMPILED_ELU_MIN_SIZE elements (a training batch at full
    scale; small ones never pay for the compile), through the compiled exp kernel.
    """
    if torch.compiler.is_compiling():  # the whole model is being compiled (compile=true)
        return _exp_elu_(x)
    use_compiled = x.device.type == "cpu" and x.numel() >= COMPILED_ELU_MIN_SIZE
    if use_compiled and _compiled_exp_elu_() is not None:
        return _ExpElu.apply(x)
    return F.elu(x, inplace=True)
