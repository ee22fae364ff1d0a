"""The contract of every registered EEG encoder, at both THINGS-EEG2 input shapes.

17 channels x 100 samples at 100 Hz (the preprocessed release) and 63 x 250 at 250 Hz (the raw
data's 1 s epochs). Every encoder maps (batch, channels, times) to (batch, out_features) that
the projector, loss and metrics consume; the checks: shape and finiteness, batch-order
equivariance and no cross-sample leakage in eval mode, determinism under a seed, the spec's JSON
round trip (with non-default settings), pinned parameter counts, one training step that lowers
the InfoNCE loss, outputs that are not log-probabilities, and one-line errors for settings that
do not fit the input.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from trainables.common.errors import ConfigError
from trainables.models.head import build_model
from trainables.models.loss import info_nce
from trainables.models.registry import ENCODERS, build_encoder
from trainables.models.settings import ENCODER_NAMES, SECTIONS
from trainables.models.spec import EncoderSpec

SHAPES = {"17x100": (17, 100, 100.0), "63x250": (63, 250, 250.0)}
BATCH = 6

# Parameters of each encoder (without projectors) at its default settings, per input shape.
PARAMETERS = {
    "nice": {"17x100": 30_080, "63x250": 103_680},
    "nice_100hz": {"17x100": 95_640, "63x250": 169_240},
    "atms": {"17x100": 440_586, "63x250": 563_186},
    "eegnet": {"17x100": 71_936, "63x250": 164_832},
    "shallow": {"17x100": 375_360, "63x250": 2_176_960},
    "deep4": {"17x100": 720_340, "63x250": 3_341_090},
    "conformer": {"17x100": 268_200, "63x250": 649_000},
    "atcnet": {"17x100": 350_512, "63x250": 351_984},
}

# Non-default settings that change the architecture: the round trip must carry them.
CHANGED_SETTINGS = {
    "atms": {"d_model": 100, "n_heads": 4, "d_ff": 64},
    "eegnet": {"feature_dim": 96, "F1": 4},
    "shallow": {"feature_dim": 96, "n_filters_time": 20},
    "deep4": {"feature_dim": 96, "n_filters_time": 10},
    "conformer": {"feature_dim": 96, "att_heads": 2},
    "atcnet": {"feature_dim": 96, "n_windows": 3},
}

# A setting per encoder that leaves no time step (or breaks a constraint) at 17 x 100.
TOO_LONG = {
    "atms": ({"n_heads": 3}, "atms.n_heads=3 must divide atms.d_model=250"),
    "eegnet": ({"pool2_kernel_size": 30}, "eegnet.pool2_kernel_size=30 is longer than"),
    "shallow": ({"pool_time_length": 80}, "shallow.pool_time_length=80 is longer than"),
    "deep4": ({"later_filter_length": 30}, "deep4.later_filter_length=30 is longer than"),
    "conformer": ({"filter_time_length": 101}, "conformer.filter_time_length=101 is longer"),
    "atcnet": ({"n_windows": 10}, r"atcnet needs at least \(atcnet.n_windows \+ 6\)"),
}

CASES = [
    pytest.param(name, shape, id=f"{name}-{shape}") for name in ENCODER_NAMES for shape in SHAPES
]


def spec_for(name: str, shape: str, **changes: object) -> EncoderSpec:
    channels, times, sfreq = SHAPES[shape]
    return EncoderSpec(name, channels, times, 0.5, sfreq=sfreq, **changes)  # type: ignore[arg-type]


def eeg(shape: str, batch: int = BATCH, seed: int = 1) -> torch.Tensor:
    channels, times, _ = SHAPES[shape]
    return torch.randn(batch, channels, times, generator=torch.Generator().manual_seed(seed))


def test_registry_is_the_settings_list() -> None:
    assert tuple(ENCODERS) == ENCODER_NAMES
    assert set(SECTIONS) == set(ENCODER_NAMES) - {"nice", "nice_100hz"}
    assert set(PARAMETERS) == set(ENCODER_NAMES)
    assert set(CHANGED_SETTINGS) == set(TOO_LONG) == set(SECTIONS)


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_shape_finite_outputs_and_pinned_parameter_count(name: str, shape: str) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec_for(name, shape))
    assert sum(p.numel() for p in encoder.parameters()) == PARAMETERS[name][shape]
    x = eeg(shape)
    for training in (True, False):
        out = encoder.train(training)(x)
        assert out.shape == (BATCH, encoder.out_features)
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_eval_is_batch_order_equivariant_without_cross_sample_leakage(
    name: str, shape: str
) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec_for(name, shape)).eval()
    x = eeg(shape)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    changed = x.clone()
    changed[2] = 10 * torch.randn_like(x[2])
    with torch.no_grad():
        out = encoder(x)
        permuted = encoder(x[perm])
        after_change = encoder(changed)
    torch.testing.assert_close(permuted, out[perm])
    others = [i for i in range(BATCH) if i != 2]
    torch.testing.assert_close(after_change[others], out[others])
    assert not torch.allclose(after_change[2], out[2])


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_same_seed_builds_the_same_encoder(name: str, shape: str) -> None:
    x = eeg(shape)
    outputs, states = [], []
    for _ in range(2):
        torch.manual_seed(7)
        encoder = build_encoder(spec_for(name, shape))
        torch.manual_seed(8)  # the same dropout masks
        outputs.append(encoder.train()(x).detach())
        states.append(encoder.state_dict())
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    for key, value in states[0].items():
        torch.testing.assert_close(states[1][key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_spec_json_round_trip_rebuilds_the_encoder(name: str, shape: str) -> None:
    channels, times, sfreq = SHAPES[shape]
    settings = CHANGED_SETTINGS.get(name)
    torch.manual_seed(0)
    model = build_model(
        name,
        n_channels=channels,
        n_times=times,
        sfreq=sfreq,
        embedding_dim=8,
        latent_dim=4,
        settings=settings,
    )
    spec = model.encoder.spec
    if settings is not None:
        assert spec.settings == {**dataclasses.asdict(SECTIONS[name]()), **settings}
        default = build_encoder(spec_for(name, shape))
        assert sum(p.numel() for p in model.encoder.parameters()) != sum(
            p.numel() for p in default.parameters()
        )
    else:
        assert spec.settings == {}
    assert spec.sfreq == sfreq
    rebuilt = build_encoder(EncoderSpec.from_dict(json.loads(json.dumps(spec.to_dict()))))
    assert rebuilt.spec == spec
    rebuilt.load_state_dict(model.encoder.state_dict(), strict=True)
    x = eeg(shape, batch=3)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model.encoder.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_specs_written_before_settings_and_sfreq_still_build(name: str) -> None:
    """A spec dict from an older checkpoint (no ``sfreq``, no ``settings``): defaults."""
    old = {"name": name, "n_channels": 17, "n_times": 100, "dropout": 0.5}
    spec = EncoderSpec.from_dict(old)
    assert (spec.sfreq, spec.settings) == (None, {})
    torch.manual_seed(0)
    assert sum(p.numel() for p in build_encoder(spec).parameters()) == PARAMETERS[name]["17x100"]


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_one_training_step_lowers_the_loss_on_a_fixed_batch(name: str, shape: str) -> None:
    channels, times, sfreq = SHAPES[shape]
    torch.manual_seed(0)
    model = build_model(
        name, n_channels=channels, n_times=times, sfreq=sfreq, embedding_dim=16, latent_dim=16
    ).train()
    x = eeg(shape, batch=8)
    e = torch.randn(8, 16, generator=torch.Generator().manual_seed(2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss() -> torch.Tensor:
        torch.manual_seed(3)  # the same dropout masks before and after the step
        return info_nce(*model(x, e), model.logit_scale)

    before = loss()
    optimizer.zero_grad()
    before.backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert after < before


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_bf16_autocast_forward_and_backward_stay_close_to_fp32(name: str) -> None:
    """The loop's bf16 autocast, exercised through the CPU autocast (no GPU here)."""
    channels, times, sfreq = SHAPES["17x100"]
    torch.manual_seed(0)
    model = build_model(
        name, n_channels=channels, n_times=times, sfreq=sfreq, embedding_dim=16, latent_dim=16
    ).eval()
    x = eeg("17x100", batch=8)
    e = torch.randn(8, 16, generator=torch.Generator().manual_seed(2))
    reference = info_nce(*model(x, e), model.logit_scale)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z_eeg, z_img = model(x, e)
        loss = info_nce(z_eeg.float(), z_img.float(), model.logit_scale)
    assert z_eeg.dtype == torch.bfloat16
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert abs(loss.item() - reference.item()) < 0.05 * abs(reference.item())


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_features_are_not_log_probabilities(name: str, shape: str) -> None:
    """No (log-)softmax at the end: rows of log-probabilities would have logsumexp 0, all <= 0;
    probabilities would be >= 0 and sum to 1."""
    torch.manual_seed(0)
    encoder = build_encoder(spec_for(name, shape)).eval()
    with torch.no_grad():
        out = encoder(eeg(shape))
    assert (out > 0).any(dim=1).all() and (out < 0).any(dim=1).all()
    assert not torch.allclose(torch.logsumexp(out, dim=1), torch.zeros(BATCH), atol=1e-3)
    assert not torch.allclose(out.sum(dim=1), torch.ones(BATCH), atol=1e-3)


@pytest.mark.parametrize("name", sorted(TOO_LONG))
def test_a_setting_that_does_not_fit_the_input_is_a_one_line_config_error(name: str) -> None:
    settings, message = TOO_LONG[name]
    with pytest.raises(ConfigError, match=message) as caught:
        build_model(
            name, n_channels=17, n_times=100, sfreq=100.0, embedding_dim=8, settings=settings
        )
    assert "\n" not in str(caught.value)


def test_atcnet_never_shrinks_its_kernels_silently() -> None:
    """braindecode's ATCNet would rescale kernels and pools (a warning) below its minimum."""
    with pytest.raises(ConfigError, match="= 99 time samples, got 98"):
        build_encoder(EncoderSpec("atcnet", 17, 98, sfreq=100.0))


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("eegnet", {"feature_dim": 0}, "eegnet settings: feature_dim must be >= 1, got 0"),
        ("shallow", {"drop_prob": 1.0}, "shallow settings: drop_prob must be < 1"),
        ("conformer", {"att_depth": "2"}, "conformer settings: att_depth must be an integer"),
        ("atms", {"d_model": 60}, "atms settings: d_model must be >= 75, got 60"),
        ("deep4", {"n_filters": 3}, "deep4 settings: n_filters is not a known setting"),
        ("nice", {"F1": 8}, "nice has no encoder settings, got F1"),
    ],
)
def test_build_model_validates_the_settings_section(
    name: str, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model(
            name, n_channels=17, n_times=100, sfreq=100.0, embedding_dim=8, settings=settings
        )
