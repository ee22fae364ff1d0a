"""Encoder names and each encoder's typed settings section of the training configuration.

Torch-free, so that configurations validate without loading models. A section is a frozen
pydantic dataclass in strict mode; ``TrainConfig`` holds one field per section, named after its
encoder (``study train ... eegnet.feature_dim=512``). The NICE encoders have no section: their
architecture is fixed (their dropout is the shared ``dropout``).

Every default works at both input shapes of THINGS-EEG2 (17 channels x 100 samples at 100 Hz,
63 x 250 at 250 Hz); where a library default does not fit 100 samples, the default here differs
from the library's and the field says why. Settings that depend on the input length (kernels
and pools along time) are checked when the encoder is built, with a one-line ConfigError naming
the setting. ``feature_dim`` is the size of the feature vector a braindecode model hands to the
EEG projector: the model's classifier output (``n_outputs``), with no (log-)softmax after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from trainables.common.errors import ConfigError
from trainables.common.validation import STRICT, validated

ENCODER_NAMES = ("nice", "nice_100hz", "atms", "eegnet", "shallow", "deep4", "conformer", "atcnet")
SECTION_CONFIG = ConfigDict(**STRICT)

Count = Annotated[int, Field(ge=1, le=65536)]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
# The smallest time axis NICE's block accepts: conv 1x25 then average pool 1x51.
ATMS_MIN_D_MODEL = 75


@dataclass(frozen=True, config=SECTION_CONFIG)
class AtmsSettings:
    """ATM-S: channels as tokens through a transformer encoder, then NICE's ShallowNet-style block.

    Each channel's time series is embedded to ``d_model`` values; the block's temporal conv and
    pool run along that axis, so its output size does not depend on the input length (1440
    features at the default 250). ``n_heads`` must divide ``d_model``. The block's dropout is the
    shared ``dropout``; ``attention_dropout`` is the transformer's (embedding, attention, MLP).
    """

    d_model: Annotated[int, Field(ge=ATMS_MIN_D_MODEL, le=65536)] = 250
    n_heads: Count = 5
    n_layers: Count = 1
    d_ff: Count = 256
    attention_dropout: Probability = 0.25


@dataclass(frozen=True, config=SECTION_CONFIG)
class EEGNetSettings:
    """braindecode EEGNet (library defaults; its "same"-padded convs fit 100 samples)."""

    feature_dim: Count = 1440
    F1: Count = 8
    D: Count = 2
    kernel_length: Count = 64
    depthwise_kernel_length: Count = 16
    pool1_kernel_size: Count = 4
    pool2_kernel_size: Count = 8
    drop_prob: Probability = 0.25


@dataclass(frozen=True, config=SECTION_CONFIG)
class ShallowSettings:
    """braindecode ShallowFBCSPNet.

    Pooling 51 / stride 5 (NICE's) instead of the library's 75 / 15, which leaves a single time
    step at 100 samples (76 after the temporal conv); 51 / 5 leaves 6 there and 36 at 250.
    """

    feature_dim: Count = 1440
    n_filters_time: Count = 40
    filter_time_length: Count = 25
    n_filters_spat: Count = 40
    pool_time_length: Count = 51
    pool_time_stride: Count = 5
    drop_prob: Probability = 0.5


@dataclass(frozen=True, config=SECTION_CONFIG)
class Deep4Settings:
    """braindecode Deep4Net.

    The library's conv length of 10 in all four blocks, each block followed by a max pool of
    3 / 3, needs at least 441 samples (it was made for 4 s windows; at 250 samples block 4 has 4
    time steps left for its conv of 10). Here the pools are 2 / 2 and blocks 2-4 use
    ``later_filter_length`` 5: at least 81 samples; 100 samples end with 2 time steps, 250 with
    11 (the library's 1000 samples end with 7).
    """

    feature_dim: Count = 1440
    n_filters_time: Count = 25
    n_filters_spat: Count = 25
    filter_time_length: Count = 10
    later_filter_length: Count = 5
    pool_time_length: Count = 2
    pool_time_stride: Count = 2
    drop_prob: Probability = 0.5


@dataclass(frozen=True, config=SECTION_CONFIG)
class ConformerSettings:
    """braindecode EEGConformer with the settings used for this task in the literature.

    40 temporal filters of length 10, pooling 25 / stride 5 (14 patches at 100 samples, 44 at
    250), 2 transformer layers with 1 head, dropouts 0.25 (attention) / 0.5 (convolution).
    ``att_heads`` must divide ``n_filters_time`` (the embedding size). The library's
    fully-connected head (-> 256 -> 32) stays, then a linear layer to ``feature_dim``.
    """

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
    """braindecode ATCNet.

    Pools 3 and 3 instead of the library's 8 and 7 (made for 4.5 s at 250 Hz): the sliding
    windows and the TCN need ``(n_windows + 6) * pool_1 * pool_2`` samples (with the library's
    TCN: kernel 4, depth 2), 99 with these defaults. Shorter inputs would make the library
    shrink kernels and pools silently; here they are a ConfigError.
    """

    feature_dim: Count = 1440
    n_windows: Count = 5
    conv_block_n_filters: Count = 16
    conv_block_kernel_length_1: Count = 64
    conv_block_kernel_length_2: Count = 16
    conv_block_pool_size_1: Count = 3
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


def section_settings(name: str, raw: Mapping[str, Any] | None) -> Any:
    """Encoder ``name``'s validated settings section from a plain dict (None: the defaults).

    None for the NICE encoders, which have no section (a non-empty dict for them is an error).
    Unknown keys and wrongly typed or out-of-range values are a one-line ConfigError.
    """
    if name not in SECTIONS:
        if raw:
            raise ConfigError(f"{name} has no encoder settings, got {', '.join(sorted(raw))}")
        return None
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{name} settings must be a mapping, got {type(raw).__name__}")
    return validated(SECTIONS[name], dict(raw or {}), f"{name} settings")
