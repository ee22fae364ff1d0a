"""NICE EEG encoders (a small registry), latent projectors and the contrastive model of one trial.

The temporal front end of both encoders is linear up to its first BatchNorm: ``nice`` runs a
Conv(1->40, 1x25) then AvgPool(1x51, stride 5), ``nice_100hz`` a Conv(1->40, 1x25) then a
Conv(40->40, 1x41). With ``fused=True`` (default) the forward pass composes the trainable kernels
into one equivalent convolution every step (design.md, performance notes), and folds the first
BatchNorm into that convolution from the batch statistics of its input windows: same parameters,
same function, same gradients and running statistics (up to float rounding), a fraction of the
FLOPs and none of the passes over the largest activation except the ELU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainables.errors import ConfigError

N_FILTERS = 40
TEMPORAL_KERNEL = 25
POOL_KERNEL, POOL_STRIDE = 51, 5
SECOND_TEMPORAL_KERNEL = 41
NICE_100HZ_STEPS = 36
SFREQ_NICE_MIN = 150.0


@dataclass(frozen=True)
class EncoderSpec:
    """Everything needed to rebuild an encoder's architecture (its state_dict holds the rest)."""

    name: str
    n_channels: int
    n_times: int
    dropout: float = 0.5

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> EncoderSpec:
        return cls(**values)  # type: ignore[arg-type]


def _compose_kernels(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Kernel (out, k1 + k2 - 1) of conv by ``first`` (mid, k1) then ``second`` (out, mid, k2).

    Tap j of the result sums ``second[o, m, s] * first[m, i]`` over m and s + i = j: one small
    matmul, then row s shifted right by s (pad to k1 + k2, re-read rows one shorter), summed.
    """
    k1, (out, _, k2) = first.shape[-1], second.shape
    products = F.pad(second.transpose(1, 2) @ first, (0, k2))
    width = k1 + k2 - 1
    return products.flatten(1)[:, : k2 * width].reshape(out, k2, width).sum(1)


def _window_moments(
    eeg: torch.Tensor, width: int, stride: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Mean (width,), biased covariance (width, width) and count of the front's input windows.

    Every (sample, channel) row of ``eeg`` is cut into windows ``[t * stride, t * stride + width)``;
    the statistics of all of them come from the (time x time) Gram matrix of the rows, summed
    along its diagonal blocks: float64, a few MFLOP instead of a pass over the windows.
    """
    rows = eeg.detach().reshape(-1, eeg.shape[-1]).double()
    steps = (rows.shape[1] - width) // stride + 1
    count = rows.shape[0] * steps
    blocks = (rows.T @ rows).unfold(0, width, stride).unfold(1, width, stride)
    gram = blocks.diagonal(dim1=0, dim2=1).sum(-1) / count
    mean = rows.sum(0).unfold(0, width, stride).sum(0) / count
    return mean, gram - torch.outer(mean, mean), count


def _fold_batch_norm(
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
        _update_running_stats(norm, mean.detach(), var.detach() * count / max(count - 1, 1))
    else:
        mean, var = norm.running_mean.double(), norm.running_var.double()
    scale = norm.weight.double() / torch.sqrt(var + norm.eps)
    folded_bias = norm.bias.double() + (bias.double() - mean) * scale
    return (k * scale[:, None]).to(kernel.dtype), folded_bias.to(kernel.dtype)


def _update_running_stats(norm: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor) -> None:
    """``norm``'s running mean/variance update for one training batch, as nn.BatchNorm does it."""
    norm.num_batches_tracked.add_(1)
    norm.running_mean.lerp_(mean.to(norm.running_mean.dtype), norm.momentum)
    norm.running_var.lerp_(var.to(norm.running_var.dtype), norm.momentum)


def _batch_norm_last(x: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
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


class _RowBlockLinear(torch.autograd.Function):
    """``F.linear`` of a contiguous (..., in) input whose weight gradient is a batched matmul over
    blocks of its rows, summed: MKL runs one (out x rows) @ (rows x in) product with its long
    inner dimension at about two thirds of that speed on the CPU (tests/benchmarks). Shapes are
    handled inside, so no view of the output escapes (an in-place op on one would copy)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        rows = x.view(-1, x.shape[-1])
        grad = grad.reshape(-1, grad.shape[-1])
        grad_x = (grad @ weight).view(x.shape) if ctx.needs_input_grad[0] else None
        blocks = math.gcd(rows.shape[0], ROW_BLOCKS)
        per_block = grad.view(blocks, -1, grad.shape[1]).transpose(1, 2)
        grad_weight = torch.bmm(per_block, rows.view(blocks, -1, rows.shape[1])).sum(0)
        return grad_x, grad_weight, grad.sum(0) if ctx.has_bias else None


def _tall_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.linear`` over the last dimension; on the CPU through _RowBlockLinear."""
    if x.device.type != "cpu":
        return F.linear(x, weight, bias)
    return _RowBlockLinear.apply(x.contiguous(), weight, bias)


def _window_linear(
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
    return _RowBlockLinear.apply(rows, torch.cat([kernel, bias[:, None]], dim=1), None)


class Dropout(nn.Dropout):
    """nn.Dropout whose CPU masks are uniform draws ``>= p``: the same distribution as the
    bernoulli kernel F.dropout uses there, at a fraction of its cost (tests/benchmarks)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        keep = torch.rand_like(x) >= self.p
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


class _NiceBase(nn.Module):
    """Layers shared by both variants and the two forward paths.

    Plain path: the layer stack as written (NCHW convolutions). Fused path: the linear temporal
    front end and the first BatchNorm as one composed, normalised kernel applied to time windows
    (then an in-place ELU, whose backward then needs no exp), and every later layer as a matmul on
    a channels-last (batch, time, [channel,] filter) layout. Both read the same parameters and
    buffers; dropout masks differ between the paths (different layout), everything else is equal.
    """

    def __init__(self, spec: EncoderSpec, fused: bool) -> None:
        super().__init__()
        self.spec = spec
        self.fused = fused
        self.temporal = nn.Conv2d(1, N_FILTERS, (1, TEMPORAL_KERNEL))
        self.norm1 = nn.BatchNorm2d(N_FILTERS)
        self.spatial = nn.Conv2d(N_FILTERS, N_FILTERS, (spec.n_channels, 1))
        self.norm2 = nn.BatchNorm2d(N_FILTERS)
        self.dropout = Dropout(spec.dropout)
        self.pointwise = nn.Conv2d(N_FILTERS, N_FILTERS, 1)

    def plain_front(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def composed_front(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(kernel (filters, window), bias (filters), stride) equal to the linear front end."""
        raise NotImplementedError

    def pool_time(self, x: torch.Tensor) -> torch.Tensor:
        """Final pooling over time of a (batch, filters, time) tensor; identity by default."""
        return x

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        """(batch, channels, times) -> (batch, steps * 40) features, index ``t * 40 + filter``."""
        return self._fused(eeg) if self.fused else self._plain(eeg)

    def _plain(self, eeg: torch.Tensor) -> torch.Tensor:
        x = F.elu(self.norm1(self.plain_front(eeg.unsqueeze(1))))
        x = self.dropout(F.elu(self.norm2(self.spatial(x))))
        x = self.pool_time(self.pointwise(x).flatten(2))
        return x.transpose(1, 2).flatten(1)

    def _fused(self, eeg: torch.Tensor) -> torch.Tensor:
        kernel, bias, stride = self.composed_front()
        width = kernel.shape[1]
        moments = _window_moments(eeg, width, stride) if self.norm1.training else None
        kernel, bias = _fold_batch_norm(kernel, bias, self.norm1, moments)
        x = F.elu(_window_linear(eeg, kernel, bias, stride), inplace=True)
        spatial = self.spatial.weight[:, :, :, 0].transpose(1, 2).flatten(1)
        x = _tall_linear(x.flatten(2), spatial, self.spatial.bias)
        x = self.dropout(F.elu(_batch_norm_last(x, self.norm2)))
        x = F.linear(x, self.pointwise.weight[:, :, 0, 0], self.pointwise.bias)
        return self.pool_time(x.transpose(1, 2)).transpose(1, 2).flatten(1)


class NiceEncoder(_NiceBase):
    """The original NICE encoder: 1440 features at 63 channels x 250 samples."""

    def __init__(self, spec: EncoderSpec, fused: bool = True) -> None:
        super().__init__(spec, fused)
        self.pool = nn.AvgPool2d((1, POOL_KERNEL), (1, POOL_STRIDE))
        front = spec.n_times - TEMPORAL_KERNEL + 1
        if front < POOL_KERNEL:
            raise ConfigError(
                f"nice needs at least {TEMPORAL_KERNEL + POOL_KERNEL - 1} time samples"
            )
        self.n_steps = (front - POOL_KERNEL) // POOL_STRIDE + 1
        self.out_features = self.n_steps * N_FILTERS

    def plain_front(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.temporal(x))

    def composed_front(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        weight = self.temporal.weight[:, :, 0, :]
        box = torch.full(
            (1, POOL_KERNEL), 1.0 / POOL_KERNEL, dtype=weight.dtype, device=weight.device
        )
        return _compose_kernels(box, weight), self.temporal.bias, POOL_STRIDE


class Nice100HzEncoder(_NiceBase):
    """The seed's 100 Hz variant: a second temporal conv instead of pooling; adaptive pool to 36."""

    def __init__(self, spec: EncoderSpec, fused: bool = True) -> None:
        super().__init__(spec, fused)
        self.temporal2 = nn.Conv2d(N_FILTERS, N_FILTERS, (1, SECOND_TEMPORAL_KERNEL), bias=False)
        minimum = TEMPORAL_KERNEL + SECOND_TEMPORAL_KERNEL - 1
        if spec.n_times < minimum:
            raise ConfigError(f"nice_100hz needs at least {minimum} time samples")
        self.n_steps = NICE_100HZ_STEPS
        self.out_features = NICE_100HZ_STEPS * N_FILTERS

    def plain_front(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal2(self.temporal(x))

    def composed_front(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        second = self.temporal2.weight[:, :, 0, :]
        kernel = _compose_kernels(self.temporal.weight[:, 0, 0, :], second)
        bias = second.sum(-1) @ self.temporal.bias
        return kernel, bias, 1

    def pool_time(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool1d(x, NICE_100HZ_STEPS)


ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "nice": NiceEncoder,
    "nice_100hz": Nice100HzEncoder,
}


def resolve_variant(model: str, sfreq: float) -> str:
    """``auto`` -> ``nice`` for 250 Hz-like data, ``nice_100hz`` below SFREQ_NICE_MIN Hz."""
    if model == "auto":
        return "nice" if sfreq >= SFREQ_NICE_MIN else "nice_100hz"
    if model not in ENCODERS:
        raise ConfigError(f"unknown model {model!r}; choose from auto, {', '.join(ENCODERS)}")
    return model


def build_encoder(spec: EncoderSpec, fused: bool = True) -> nn.Module:
    if spec.name not in ENCODERS:
        raise ConfigError(f"unknown model {spec.name!r}; choose from {', '.join(ENCODERS)}")
    encoder = ENCODERS[spec.name](spec, fused=fused)
    encoder.apply(init_weights)
    return encoder


class Projector(nn.Module):
    """Linear, then residual [GELU, Linear, Dropout], then LayerNorm (NICE's Proj_eeg/Proj_img)."""

    def __init__(self, in_features: int, latent_dim: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, latent_dim)
        self.residual = nn.Sequential(
            nn.GELU(), nn.Linear(latent_dim, latent_dim), Dropout(dropout)
        )
        self.norm = nn.LayerNorm(latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        return self.norm(x + self.residual(x))


def init_weights(module: nn.Module) -> None:
    """NICE's init: conv/linear weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ContrastiveModel(nn.Module):
    """EEG encoder + projectors for both sides + the learnable logit scale log(1/temperature)."""

    def __init__(
        self,
        spec: EncoderSpec,
        embedding_dim: int,
        latent_dim: int,
        temperature_init: float,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = build_encoder(spec, fused=fused)
        self.eeg_projector = Projector(self.encoder.out_features, latent_dim, spec.dropout)
        self.image_projector = Projector(embedding_dim, latent_dim, spec.dropout)
        self.eeg_projector.apply(init_weights)
        self.image_projector.apply(init_weights)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature_init)))

    def encode_eeg(self, eeg: torch.Tensor) -> torch.Tensor:
        """(batch, channels, times) -> L2-normalised latents (batch, latent_dim)."""
        return F.normalize(self.eeg_projector(self.encoder(eeg)), dim=-1)

    def encode_images(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(batch, embedding_dim) -> L2-normalised latents (batch, latent_dim)."""
        return F.normalize(self.image_projector(embeddings), dim=-1)

    def forward(
        self, eeg: torch.Tensor, embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_eeg(eeg), self.encode_images(embeddings)

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        """Projectors and the temperature: the optimizer's second parameter group."""
        params = list(self.eeg_projector.parameters()) + list(self.image_projector.parameters())
        return [*params, self.logit_scale]


def build_model(
    model: str,
    *,
    n_channels: int,
    n_times: int,
    sfreq: float,
    embedding_dim: int,
    latent_dim: int = 256,
    dropout: float = 0.5,
    temperature_init: float = 0.07,
    fused: bool = True,
) -> ContrastiveModel:
    """The contrastive model for data of this shape; ``model`` may be ``auto``."""
    spec = EncoderSpec(resolve_variant(model, sfreq), n_channels, n_times, dropout)
    return ContrastiveModel(spec, embedding_dim, latent_dim, temperature_init, fused=fused)
