"""Encoder registry: names -> encoder classes, the ``auto`` choice, building with each's init.

Every encoder is built as ``Cls(spec, fused=...)`` (``fused`` only changes the NICE block's
forward path), has ``out_features`` and maps (batch, channels, times) float EEG to
(batch, out_features) features. The NICE encoders get NICE's init (``init_weights``); the others
initialise themselves (``nice_init = False``; see their modules).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from trainables.common.errors import ConfigError
from trainables.models.atms import AtmsEncoder
from trainables.models.braindecode_encoders import BRAINDECODE_ENCODERS
from trainables.models.nice import Nice100HzEncoder, NiceEncoder, init_weights
from trainables.models.settings import ENCODER_NAMES
from trainables.models.spec import EncoderSpec

__all__ = ["ENCODERS", "SFREQ_NICE_MIN", "build_encoder", "init_weights", "resolve_variant"]

SFREQ_NICE_MIN = 150.0


ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "nice": NiceEncoder,
    "nice_100hz": Nice100HzEncoder,
    "atms": AtmsEncoder,
    **BRAINDECODE_ENCODERS,
}
assert tuple(ENCODERS) == ENCODER_NAMES, "the registry and settings.ENCODER_NAMES must agree"


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
    if encoder.nice_init:
        encoder.apply(init_weights)
    return encoder
