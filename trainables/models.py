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

import torch
import torch.nn.functional as F
from torch import nn

from trainables.errors import ConfigError
from trainables.fused_ops import (
    Dropout,
    batch_norm_last,
    compose_kernels,
    fold_batch_norm,
    large_elu_,
    tall_linear,
    window_linear,
    window_moments,
)

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


class _NiceBase(nn.Module):
    """Layers shared by both variants and the two forward paths.

    Plain path: the layer stack as written (NCHW convolutions). Fused path: the linear temporal
    front end and the first BatchNorm as one composed, normalised kernel applied to time windows
    (then an in-place ELU, whose backward then needs no exp), and every later layer as a matmul on
    a channels-last (batch, time, [channel,] filter) layout. Both read the same parameters and
    buffers; dropout masks differ between the paths (different layout), everything else is equal.
    """

    spatial_bias = True  # whether the spatial conv (followed by BatchNorm) has a bias

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
