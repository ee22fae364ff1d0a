"""Windows and regions of `study analyze` (study.analyze), without training."""

from __future__ import annotations

import pytest

from study.analyze import region_variants, window_variants
from trainables.common.errors import ConfigError
from trainables.things_eeg2.inputs import InputSpec

EPOCH = (-0.2, 0.79)  # the official release: 100 samples at 100 Hz
POSTERIOR = ["P7", "P5", "P3", "P1", "Pz", "P2", "P4", "P6", "P8"]
POSTERIOR += ["PO7", "PO3", "POz", "PO4", "PO8", "O1", "Oz", "O2"]


def test_sliding_windows_tile_the_epoch_and_name_their_bounds_in_ms() -> None:
    windows = window_variants("sliding:0.2:0.1", EPOCH, 100.0)
    bounds = [(w.tmin, w.tmax) for w in windows.values()]
    # [lo, lo + 0.2): 20 samples, from lo to lo + 0.19; the last one ends on the epoch's last
    assert bounds == [
        (pytest.approx(-0.2 + 0.1 * k), pytest.approx(-0.01 + 0.1 * k)) for k in range(9)
    ]
    assert list(windows)[:3] == ["t-200_0ms", "t-100_100ms", "t0_200ms"]
    assert list(windows)[-1] == "t600_800ms"
    assert all(isinstance(w, InputSpec) and w.channels == "all" for w in windows.values())


def test_growing_windows_start_at_the_epoch_and_end_within_it() -> None:
    windows = window_variants("growing:0.33", EPOCH, 100.0)
    assert list(windows) == ["t-200_130ms", "t-200_460ms", "t-200_790ms"]
    assert [(w.tmin, w.tmax) for w in windows.values()] == [
        (-0.2, pytest.approx(0.12)),
        (-0.2, pytest.approx(0.45)),
        (-0.2, pytest.approx(0.78)),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sliding:0.1", "expected sliding:WIDTH:STEP or growing:STEP"),
        ("growing:0", "positive seconds"),
        ("tumbling:0.1:0.1", "expected sliding"),
        ("sliding:a:b", "expected sliding"),
        ("sliding:2:1", "no window fits the epoch"),
    ],
)
def test_bad_window_forms_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        window_variants(text, EPOCH, 100.0)
    assert "\n" not in str(caught.value)


def test_default_regions_are_those_with_channels_in_the_data() -> None:
    assert list(region_variants(None, POSTERIOR)) == ["occipital", "parietal"]
    cap = ["Fp1", "AF3", "F3", "FC1", "C3", "CP1", "T7", "TP9", "FT9", "P3", "PO3", "O1"]
    assert list(region_variants("", cap)) == [
        "occipital", "parietal", "temporal", "central", "frontal",
    ]  # fmt: skip
    assert region_variants("posterior,occipital", POSTERIOR) == {
        "posterior": InputSpec(channels="posterior"),
        "occipital": InputSpec(channels="occipital"),
    }
    with pytest.raises(ConfigError, match=r"unknown group\(s\) \['visual'\]"):
        region_variants("occipital,visual", POSTERIOR)
