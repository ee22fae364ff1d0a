"""The NICE EEG encoders: ``nice`` (the original, 250 Hz) and ``nice_100hz`` (the seed's variant).

The temporal front end of both encoders is linear up to its first BatchNorm: ``nice`` runs a
Conv(1->40, 1x25) then AvgPool(1x51, stride 5), ``nice_100hz`` a Conv(1->40, 1x25) then a
Conv(40->40, 1x41). With ``fused=True`` (default) the forward pass composes the trainable kernels
into one equivalent convolution every step (docs/trial-internals.md, "Fast loop"), and folds the
first BatchNorm into that convolution from the batch statistics of its input windows: same
parameters, same function, same gradients (parameters and input) and running statistics (up to
float rounding), a fraction of the FLOPs and none of the passes over the largest activation except
the ELU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables.common.errors import ConfigError
from trainables.models.fused_ops import (
    Dropout,
    batch_norm_last,
    compose_kernels,
    fold_batch_norm,
    large_elu_,
    tall_linear,
    window_linear,
    window_moments,
)
from trainables.models.spec import EncoderSpec

N_FILTERS = 40
TEMPORAL_KERNEL = 25
POOL_KERNEL, POOL_STRIDE = 51, 5
SECOND_TEMPORAL_KERNEL = 41
NICE_100HZ_STEPS = 36


def init_weights(module: nn.Module) -> None:
    """NICE's init: conv/linear weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class _NiceBase(nn.Module):
    """Layers shared by both variants and the two forward paths.

    Plain path: the layer stack as written (NCHW convolutions). Fused path: the linear temporal
    front end and the first BatchNorm as one composed, normalised kernel applied to time windows
    (then an in-place ELU, whose backward then needs no exp), and every later layer as a matmul on
    a channels-last (batch, time, [channel,] filter) layout. Both read the same parameters and
    buffers; dropout masks differ between the paths (different layout), everything else is equal.
    """

    spatial_bias = True  # whether the spatial conv (followed by BatchNorm) has a bias
    nice_init = True  # build_encoder applies init_weights to the whole encoder

    def __init__(self, spec: EncoderSpec, fused: bool) -> None:
        super().__init__()
        self.spec = spec
        self.fused = fused
        self.temporal = nn.Conv2d(1, N_FILTERS, (1, TEMPORAL_KERNEL))
        self.norm1 = nn.BatchNorm2d(N_FILTERS)
        self.spatial = nn.Conv2d(N_FILTERS, N_FILTERS, (spec.n_channels, 1), bias=self.spatial_bias)
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
        moments = window_moments(eeg, width, stride) if self.norm1.training else None
        kernel, bias = fold_batch_norm(kernel, bias, self.norm1, moments)
        x = large_elu_(window_linear(eeg, kernel, bias, stride))
        spatial = self.spatial.weight[:, :, :, 0].transpose(1, 2).flatten(1)
        x = tall_linear(x.flatten(2), spatial, self.spatial.bias)
        x = self.dropout(F.elu(batch_norm_last(x, self.norm2)))
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
        return compose_kernels(box, weight), self.temporal.bias, POOL_STRIDE


class Nice100HzEncoder(_NiceBase):
    """The seed's 100 Hz variant: a second temporal conv instead of pooling; adaptive pool to 36.

    Its spatial conv has no bias, as in the 100 Hz reference: the BatchNorm after it would cancel
    one, leaving 40 parameters that Adam only moves on rounding noise.
    """

    spatial_bias = False

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
        kernel = compose_kernels(self.temporal.weight[:, 0, 0, :], second)
        bias = second.sum(-1) @ self.temporal.bias
        return kernel, bias, 1

    def pool_time(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool1d(x, NICE_100HZ_STEPS)
