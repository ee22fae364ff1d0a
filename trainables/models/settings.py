"""Encoder names and each encoder's typed settings section of the training configuration.

Torch-free, so that configurations validate without loading models. A section is a frozen
pydantic dataclass in strict mode; ``TrainConfig`` holds one field per section, named after its
encoder (``study train ... eegnet.feature_dim=512``). The NICE encoders have no section: their
architecture is fixed (their dropout is the shared ``dropout``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass

from trainables.common.validation import STRICT

ENCODER_NAMES = ("nice", "nice_100hz", "atms", "eegnet", "shallow", "deep4", "conformer", "atcnet")
SECTION_CONFIG = ConfigDict(**STRICT)

Count = Annotated[int, Field(ge=1, le=65536)]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]


@dataclass(frozen=True, config=SECTION_CONFIG)
class AtmsSettings:
    """ATM-S: channels as tokens through a transformer encoder, then a ShallowNet-style block."""

    d_model: Count = 250
    n_heads: Count = 5
    n_layers: Count = 1
    d_ff: Count = 256
    attention_dropout: Probability = 0.25
    n_filters: Count = 40


@dataclass(frozen=True, config=SECTION_CONFIG)
class EEGNetSettings:
    """braindecode EEGNet; its classifier output is the feature vector."""

    feature_dim: Count = 1440
    F1: Count = 8
    D: Count = 2
    kernel_length: Count = 64
    drop_prob: Probability = 0.25


@dataclass(frozen=True, config=SECTION_CONFIG)
class ShallowSettings:
    """braindecode ShallowFBCSPNet."""

    feature_dim: Count = 1440
    n_filters_time: Count = 40
    filter_time_length: Count = 25
    pool_time_length: Count = 51
    pool_time_stride: Count = 5
    drop_prob: Probability = 0.5


@dataclass(frozen=True, config=SECTION_CONFIG)
class Deep4Settings:
    """braindecode Deep4Net."""

    feature_dim: Count = 1440
    filter_time_length: Count = 10
    pool_time_length: Count = 2
    pool_time_stride: Count = 2
    drop_prob: Probability = 0.5


@dataclass(frozen=True, config=SECTION_CONFIG)
class ConformerSettings:
    """braindecode EEGConformer with the settings used for this task in the literature."""

    feature_dim: Count = 1440
    n_filters_time: Count = 40
    filter_time_length: Count = 10
    pool_time_length: Count = 25
    pool_time_stride: Count = 5
    att_depth: Count = 2
    att_heads: Count = 1
    att_drop_prob: Probability = 0.25
    drop_prob: Probability = 0.5


@dataclass(frozen=True, config=SECTION_CONFIG)
class ATCNetSettings:
    """braindecode ATCNet."""

    feature_dim: Count = 1440
    n_windows: Count = 5
    conv_block_pool_size_1: Count = 4
    conv_block_pool_size_2: Count = 3
    conv_block_dropout: Probability = 0.3


SECTIONS: dict[str, type] = {
    "atms": AtmsSettings,
    "eegnet": EEGNetSettings,
    "shallow": ShallowSettings,
    "deep4": Deep4Settings,
    "conformer": ConformerSettings,
    "atcnet": ATCNetSettings,
}


def _from_mapping(kind: type) -> Callable[[Any], Any]:
    """A validator that builds a ``kind`` section from a mapping, strictly, as JSON would."""

    def build(value: Any) -> Any:
        if isinstance(value, dict):
            return TypeAdapter(kind).validate_json(json.dumps(value, allow_nan=True))
        return value

    return build


def section_field(kind: type) -> Any:
    """The annotation of a TrainConfig field holding a ``kind`` section (instance or mapping)."""
    return Annotated[kind, BeforeValidator(_from_mapping(kind))]
