"""ATM-S (Li et al. 2024, "Visual Decoding and Reconstruction via EEG Embeddings with Guided
Diffusion"): a channel-wise transformer, then a ShallowNet-style temporal-spatial conv block.

The transformer's tokens are the EEG channels: each channel's whole time series is embedded
linearly to ``d_model`` values, a learned per-channel embedding is added (attention alone cannot
tell channels apart), and post-norm encoder layers (self-attention, GELU MLP) mix information
across channels; a final LayerNorm closes the stack. The (channels x ``d_model``) result is then
read like an EEG epoch by the paper's conv block: temporal conv 1x25, average pool 1x51 stride
5, BatchNorm, ELU, conv over all channels, BatchNorm, ELU, dropout, 1x1 conv, flatten. That block
is exactly NICE's, so it is the project's ``NiceEncoder`` (fused path included) run on a
``d_model``-long axis: 1440 features at the default ``d_model`` 250, for any input length.

The paper's subject token (one learned token per training subject) is left out: studies here
train on one subject or pool subjects without subject identity.

Init: the transformer and the embeddings keep PyTorch's defaults (the channel embedding
N(0, 0.02)); the conv block gets NICE's init, as in NICE.
"""

from __future__ import annotations

import torch
from torch import nn

from trainables.common.errors import ConfigError
from trainables.models.nice import NiceEncoder, init_weights
from trainables.models.settings import section_settings
from trainables.models.spec import EncoderSpec


class AtmsEncoder(nn.Module):
    """(batch, channels, times) -> (batch, 40 * steps) features; steps from ``atms.d_model``."""

    nice_init = False  # the conv block gets NICE's init here, the transformer PyTorch's

    def __init__(self, spec: EncoderSpec, fused: bool = True) -> None:
        super().__init__()
        settings = section_settings("atms", spec.settings)
        if settings.d_model % settings.n_heads:
            raise ConfigError(
                f"atms.n_heads={settings.n_heads} must divide atms.d_model={settings.d_model}"
            )
        self.spec = spec
        self.embed = nn.Linear(spec.n_times, settings.d_model)
        self.channel_embedding = nn.Parameter(torch.empty(spec.n_channels, settings.d_model))
        nn.init.normal_(self.channel_embedding, 0.0, 0.02)
        self.embed_dropout = nn.Dropout(settings.attention_dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                settings.d_model,
                settings.n_heads,
                dim_feedforward=settings.d_ff,
                dropout=settings.attention_dropout,
                activation="gelu",
                batch_first=True,
            )
            for _ in range(settings.n_layers)
        )
        self.norm = nn.LayerNorm(settings.d_model)
        self.block = NiceEncoder(
            EncoderSpec("nice", spec.n_channels, settings.d_model, spec.dropout), fused=fused
        )
        self.block.apply(init_weights)
        self.out_features = self.block.out_features

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        tokens = self.embed_dropout(self.embed(eeg) + self.channel_embedding)
        for layer in self.layers:
            tokens = layer(tokens)
        return self.block(self.norm(tokens))
