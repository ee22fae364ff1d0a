"""Encoder registry: names -> encoder classes, the ``auto`` choice, building with NICE's init."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from trainables.common.errors import ConfigError
from trainables.models.nice import Nice100HzEncoder, NiceEncoder
from trainables.models.spec import EncoderSpec

SFREQ_NICE_MIN = 150.0


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


def init_weights(module: nn.Module) -> None:
    """NICE's init: conv/linear weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
