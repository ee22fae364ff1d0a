"""The contrastive model of one trial: EEG encoder, latent projectors and the logit scale."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainables.models.fused_ops import Dropout
from trainables.models.registry import build_encoder, init_weights, resolve_variant
from trainables.models.settings import section_settings
from trainables.models.spec import EncoderSpec


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
    settings: Mapping[str, Any] | None = None,
) -> ContrastiveModel:
    """The contrastive model for data of this shape; ``model`` may be ``auto``.

    ``settings`` is the chosen encoder's settings section as a plain dict (None: its defaults;
    None or empty for NICE). It is validated (one-line ConfigError) and saved in the encoder's
    spec with every default filled in.
    """
    name = resolve_variant(model, sfreq)
    section = section_settings(name, settings)
    values = dataclasses.asdict(section) if section is not None else {}
    spec = EncoderSpec(name, n_channels, n_times, dropout, sfreq=float(sfreq), settings=values)
    return ContrastiveModel(spec, embedding_dim, latent_dim, temperature_init, fused=fused)
