"""The braindecode encoders: EEGNet, ShallowFBCSPNet, Deep4Net, EEGConformer and ATCNet.

Each wraps the library model built as ``Cls(n_chans=, n_outputs=feature_dim, n_times=, sfreq=)``
with its settings section; the model's classifier output is the feature vector (braindecode
1.8's models end in a linear layer or a convolution over the remaining time steps, with no
(log-)softmax: the contract test checks the outputs are not log-probabilities). The library's
own initialisation is kept (EEGNet: Glorot weights, zero biases; ShallowFBCSPNet and Deep4Net:
Xavier convolutions, unit BatchNorm; EEGConformer and ATCNet: PyTorch's defaults).

braindecode (and through it MNE, scikit-learn, skorch) is imported when one of these encoders is
built, not with this module: NICE runs never pay its import time.

Before the library model is built, the time axis is followed through the model's kernels and
pools: a setting that leaves no time step is a one-line ConfigError naming it (the libraries
would raise a shape error, or, ATCNet, shrink kernels and pools with a warning).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import torch
from torch import nn

from trainables.common.errors import ConfigError
from trainables.models.settings import (
    ATCNetSettings,
    ConformerSettings,
    Deep4Settings,
    EEGNetSettings,
    ShallowSettings,
    section_settings,
)
from trainables.models.spec import EncoderSpec

# ATCNet's TCN (braindecode defaults, not exposed): kernel 4, depth 2 -> receptive field 7.
ATCNET_TCN_KERNEL, ATCNET_TCN_DEPTH = 4, 2
ATCNET_TCN_FIELD = (ATCNET_TCN_KERNEL - 1) * 2 ** (ATCNET_TCN_DEPTH - 1) + 1


class TimeAxis:
    """Follows the length of the time axis through kernels and pools; errors name the setting."""

    def __init__(self, encoder: str, n_times: int) -> None:
        self.encoder, self.n_times, self.length = encoder, n_times, n_times

    def apply(self, setting: str, kernel: int, stride: int = 1, padding: int = 0) -> int:
        """The length after a conv or pool of ``kernel`` (set by ``setting``) at ``stride``."""
        padded = self.length + 2 * padding
        if padded < kernel:
            raise ConfigError(
                f"{self.encoder}.{setting}={kernel} is longer than the {padded} time steps left "
                f"there of {self.n_times} input samples"
            )
        self.length = (padded - kernel) // stride + 1
        return self.length


def _braindecode_models() -> Any:
    """``braindecode.models``, imported on first use; its dependencies' import-time deprecation
    notices (MNE montages, pandas in wfdb) are not ours to act on and are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import braindecode.models

    return braindecode.models


class BraindecodeEncoder(nn.Module):
    """A braindecode model whose ``n_outputs`` outputs are the encoder's features."""

    name: ClassVar[str]
    library_class: ClassVar[str]  # the model's name in braindecode.models
    nice_init = False  # the library's own init is kept

    def __init__(self, spec: EncoderSpec, fused: bool = True) -> None:
        super().__init__()
        settings = section_settings(self.name, spec.settings)
        self.check_time_axis(settings, TimeAxis(self.name, spec.n_times))
        self.spec = spec
        self.out_features = settings.feature_dim
        model_class = getattr(_braindecode_models(), self.library_class)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*final_layer_with_constraint")
            self.net = model_class(
                n_chans=spec.n_channels,
                n_outputs=settings.feature_dim,
                n_times=spec.n_times,
                sfreq=spec.sfreq,
                **self.library_settings(settings),
            )

    def check_time_axis(self, settings: Any, axis: TimeAxis) -> None:
        raise NotImplementedError

    def library_settings(self, settings: Any) -> dict[str, Any]:
        raise NotImplementedError

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        """(batch, channels, times) -> (batch, feature_dim)."""
        return self.net(eeg)


class EEGNetEncoder(BraindecodeEncoder):
    """braindecode EEGNet (Lawhern et al. 2018), its convolutional classifier as the output.

    ``final_layer_with_constraint=False``: the classifier is a plain convolution over the
    remaining time steps (a linear map of the flattened maps), not a max-norm 0.25 linear layer,
    which would bound the feature vector's scale for no benefit to a contrastive head. (The
    library marks that choice deprecated; its warning is silenced here.)
    """

    name, library_class = "eegnet", "EEGNet"

    def check_time_axis(self, s: EEGNetSettings, axis: TimeAxis) -> None:
        axis.apply("kernel_length", s.kernel_length, padding=s.kernel_length // 2)
        axis.apply("pool1_kernel_size", s.pool1_kernel_size, stride=s.pool1_kernel_size)
        padding = s.depthwise_kernel_length // 2
        axis.apply("depthwise_kernel_length", s.depthwise_kernel_length, padding=padding)
        axis.apply("pool2_kernel_size", s.pool2_kernel_size, stride=s.pool2_kernel_size)

    def library_settings(self, s: EEGNetSettings) -> dict[str, Any]:
        return {
            "F1": s.F1,
            "D": s.D,
            "kernel_length": s.kernel_length,
            "depthwise_kernel_length": s.depthwise_kernel_length,
            "pool1_kernel_size": s.pool1_kernel_size,
            "pool2_kernel_size": s.pool2_kernel_size,
            "drop_prob": s.drop_prob,
            "final_layer_with_constraint": False,
        }


class ShallowEncoder(BraindecodeEncoder):
    """braindecode ShallowFBCSPNet (Schirrmeister et al. 2017): conv, square, pool, log."""

    name, library_class = "shallow", "ShallowFBCSPNet"

    def check_time_axis(self, s: ShallowSettings, axis: TimeAxis) -> None:
        axis.apply("filter_time_length", s.filter_time_length)
        axis.apply("pool_time_length", s.pool_time_length, stride=s.pool_time_stride)

    def library_settings(self, s: ShallowSettings) -> dict[str, Any]:
        return {
            "n_filters_time": s.n_filters_time,
            "filter_time_length": s.filter_time_length,
            "n_filters_spat": s.n_filters_spat,
            "pool_time_length": s.pool_time_length,
            "pool_time_stride": s.pool_time_stride,
            "drop_prob": s.drop_prob,
        }


class Deep4Encoder(BraindecodeEncoder):
    """braindecode Deep4Net (Schirrmeister et al. 2017): four conv-pool blocks."""

    name, library_class = "deep4", "Deep4Net"

    def check_time_axis(self, s: Deep4Settings, axis: TimeAxis) -> None:
        axis.apply("filter_time_length", s.filter_time_length)
        axis.apply("pool_time_length", s.pool_time_length, stride=s.pool_time_stride)
        for _ in range(3):
            axis.apply("later_filter_length", s.later_filter_length)
            axis.apply("pool_time_length", s.pool_time_length, stride=s.pool_time_stride)

    def library_settings(self, s: Deep4Settings) -> dict[str, Any]:
        return {
            "n_filters_time": s.n_filters_time,
            "n_filters_spat": s.n_filters_spat,
            "filter_time_length": s.filter_time_length,
            "filter_length_2": s.later_filter_length,
            "filter_length_3": s.later_filter_length,
            "filter_length_4": s.later_filter_length,
            "pool_time_length": s.pool_time_length,
            "pool_time_stride": s.pool_time_stride,
            "drop_prob": s.drop_prob,
        }


class ConformerEncoder(BraindecodeEncoder):
    """braindecode EEGConformer (Song et al. 2022): conv patches, transformer, MLP head.

    The library's head narrows to 32 values before the last linear layer, so the features lie in
    a 32-dimensional (affine) subspace, whatever ``feature_dim``.
    """

    name, library_class = "conformer", "EEGConformer"

    def check_time_axis(self, s: ConformerSettings, axis: TimeAxis) -> None:
        if s.n_filters_time % s.att_heads:
            raise ConfigError(
                f"conformer.att_heads={s.att_heads} must divide "
                f"conformer.n_filters_time={s.n_filters_time} (the embedding size)"
            )
        axis.apply("filter_time_length", s.filter_time_length)
        axis.apply("pool_time_length", s.pool_time_length, stride=s.pool_time_stride)

    def library_settings(self, s: ConformerSettings) -> dict[str, Any]:
        return {
            "n_filters_time": s.n_filters_time,
            "filter_time_length": s.filter_time_length,
            "pool_time_length": s.pool_time_length,
            "pool_time_stride": s.pool_time_stride,
            "num_layers": s.att_depth,
            "num_heads": s.att_heads,
            "att_drop_prob": s.att_drop_prob,
            "drop_prob": s.drop_prob,
        }


class ATCNetEncoder(BraindecodeEncoder):
    """braindecode ATCNet (Altaheri et al. 2022): conv block, sliding windows of attention + TCN.

    Its outputs are the mean over windows of each window's max-norm (0.25) linear layer.
    """

    name, library_class = "atcnet", "ATCNet"

    def check_time_axis(self, s: ATCNetSettings, axis: TimeAxis) -> None:
        pools = s.conv_block_pool_size_1 * s.conv_block_pool_size_2
        needed = (s.n_windows + ATCNET_TCN_FIELD - 1) * pools
        if axis.n_times < needed:
            raise ConfigError(
                f"atcnet needs at least (atcnet.n_windows + {ATCNET_TCN_FIELD - 1}) x "
                f"atcnet.conv_block_pool_size_1 x atcnet.conv_block_pool_size_2 = {needed} "
                f"time samples, got {axis.n_times}"
            )

    def library_settings(self, s: ATCNetSettings) -> dict[str, Any]:
        return {
            "n_windows": s.n_windows,
            "conv_block_n_filters": s.conv_block_n_filters,
            "conv_block_kernel_length_1": s.conv_block_kernel_length_1,
            "conv_block_kernel_length_2": s.conv_block_kernel_length_2,
            "conv_block_pool_size_1": s.conv_block_pool_size_1,
            "conv_block_pool_size_2": s.conv_block_pool_size_2,
            "conv_block_dropout": s.conv_block_dropout,
            "tcn_kernel_size": ATCNET_TCN_KERNEL,
            "tcn_depth": ATCNET_TCN_DEPTH,
        }


BRAINDECODE_ENCODERS: dict[str, type[BraindecodeEncoder]] = {
    cls.name: cls
    for cls in (EEGNetEncoder, ShallowEncoder, Deep4Encoder, ConformerEncoder, ATCNetEncoder)
}
