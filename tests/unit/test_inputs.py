"""Input variants: channel groups, crop, resampling, k-of-n repetition draws, grammar, wiring."""

from __future__ import annotations

import dataclasses
import re
import sys
import types
from pathlib import Path

import mne
import numpy as np
import pytest
import torch

from tests.helpers.real_format import eeg_content, make_dataset, write_format_a
from tests.helpers.toy_data import toy_data
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.store import load_store
from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit
from trainables.things_eeg2.formats import NICE_CHANNELS, OSF_CHANNELS, POSTERIOR_REGEX
from trainables.things_eeg2.inputs import (
    CHANNEL_GROUPS,
    InputSpec,
    apply_inputs,
    parse_input_spec,
    parse_input_variants,
    resolve_inputs,
)
from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.loader import load_decoding_data, load_run_data
from trainables.things_eeg2.prepared_cache import load_prepared
from trainables.training.config import TrainConfig
from trainables.training.loop import train
from trainables.training.repetitions import (
    RepetitionSampler,
    draw_repetitions,
    epoch_generator,
    mean_of_drawn,
)
from trainables.tune.shared_data import SharedEEGData, share_eeg

TIMES_100 = -0.2 + np.arange(100) / 100  # the OSF release's axis
TIMES_250 = (-0.2 + np.arange(300) / 250)[-250:]  # the NICE release's kept samples
GROUPS_63 = {
    "occipital": "O1 Oz O2 PO7 PO3 POz PO4 PO8",
    "parietal": "Pz P3 P7 P4 P8 P1 P5 P6 P2",
    "temporal": "FT9 T7 TP9 TP10 T8 FT10 FT7 TP7 TP8 FT8",
    "central": "FC5 FC1 C3 CP5 CP1 CP6 CP2 Cz C4 FC6 FC2 FC3 FCz C1 C5 CP3 CPz CP4 C6 C2 FC4",
    "frontal": "Fp1 F3 F7 F4 F8 Fp2 AF7 AF3 AFz F1 F5 F6 F2 AF4 AF8",
    "posterior": " ".join(OSF_CHANNELS),
    "all": " ".join(NICE_CHANNELS),
}
FAST = TrainConfig(
    epochs=3, batch_size=32, warmup_encoder=1, warmup_projector=1, latent_dim=16, checkpoint_every=2
)


def _names(spec: InputSpec, ch_names: tuple[str, ...]) -> str:
    return " ".join(resolve_inputs(spec, ch_names, TIMES_100, 100.0).ch_names)


def _one_line_error(call, *args, match: str, kind: type[Exception] = ConfigError) -> str:
    with pytest.raises(kind, match=match) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


# channels


@pytest.mark.parametrize("group", list(GROUPS_63))
def test_each_group_on_the_63_channel_montage(group: str) -> None:
    assert _names(InputSpec(channels=group), NICE_CHANNELS) == GROUPS_63[group]


def test_the_five_regions_partition_the_montage_and_posterior_is_the_official_pick() -> None:
    regions = ["occipital", "parietal", "temporal", "central", "frontal"]
    picked = [name for group in regions for name in GROUPS_63[group].split()]
    assert sorted(picked) == sorted(NICE_CHANNELS)
    official = [c for c in NICE_CHANNELS if re.match(POSTERIOR_REGEX, c)]
    assert GROUPS_63["posterior"].split() == official
    assert sorted(official) == sorted(
        GROUPS_63["occipital"].split() + GROUPS_63["parietal"].split()
    )


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("occipital", "O1 Oz O2 PO7 PO3 POz PO4 PO8"),
        ("parietal", "Pz P3 P7 P4 P8 P1 P5 P6 P2"),
        ("posterior", " ".join(OSF_CHANNELS)),
        ("all", " ".join(OSF_CHANNELS)),
    ],
)
def test_groups_on_the_release_17_channels(group: str, expected: str) -> None:
    assert _names(InputSpec(channels=group), OSF_CHANNELS) == expected


@pytest.mark.parametrize("group", ["temporal", "central", "frontal"])
def test_a_group_with_no_channel_in_the_data_is_refused(group: str) -> None:
    message = _one_line_error(
        resolve_inputs,
        InputSpec(channels=group),
        OSF_CHANNELS,
        TIMES_100,
        100.0,
        match=f"group '{group}'.*matches none of the data's 17 channels",
    )
    assert CHANNEL_GROUPS[group] in message


def test_explicit_channels_keep_the_data_order_and_unknown_names_are_named() -> None:
    applied = resolve_inputs(InputSpec(channels=["Oz", "O1", "Pz"]), OSF_CHANNELS, TIMES_100, 100)
    assert applied.ch_names == ["Pz", "O1", "Oz"] and applied.channel_idx.tolist() == [0, 3, 4]
    x = np.random.default_rng(0).normal(size=(2, 17, 100))
    np.testing.assert_array_equal(apply_inputs(x, applied), x[:, [0, 3, 4]].astype(np.float32))
    _one_line_error(
        resolve_inputs,
        InputSpec(channels=["Oz", "Fz", "Cz"]),
        OSF_CHANNELS,
        TIMES_100,
        100.0,
        match=r"channels: Fz, Cz not among the data's 17 channels",
    )


# window and rate


@pytest.mark.parametrize(
    ("tmin", "tmax", "start", "stop"),
    [(0.0, 0.4, 20, 61), (None, 0.0, 0, 21), (0.5, None, 70, 100), (-0.2, 0.79, 0, 100)],
)
def test_crop_window_is_exact_against_the_times(tmin, tmax, start, stop) -> None:
    applied = resolve_inputs(InputSpec(tmin=tmin, tmax=tmax), OSF_CHANNELS, TIMES_100, 100.0)
    np.testing.assert_array_equal(applied.times, TIMES_100[start:stop])
    x = np.random.default_rng(1).normal(size=(3, 17, 100)).astype(np.float32)
    np.testing.assert_array_equal(apply_inputs(x, applied), x[..., start:stop])


def test_crop_on_the_250_hz_release_axis() -> None:
    applied = resolve_inputs(InputSpec(tmin=0.0, tmax=0.2), NICE_CHANNELS, TIMES_250, 250.0)
    assert applied.time_idx == slice(0, 51) and applied.n_source_times == 250
    np.testing.assert_allclose(applied.times[[0, -1]], [0.0, 0.2], atol=1e-12)


@pytest.mark.parametrize(
    ("factor", "window"), [(2, (None, None)), (3, (None, None)), (4, (0.0, 0.5))]
)
def test_decimate_is_mne_fft_resampling_of_the_cropped_window(factor: int, window) -> None:
    x = np.random.default_rng(2).normal(size=(5, 4, 17, 100))
    spec = InputSpec(tmin=window[0], tmax=window[1], decimate=factor)
    applied = resolve_inputs(spec, OSF_CHANNELS, TIMES_100, 100.0)
    crop = x[..., applied.time_idx]
    expected = mne.filter.resample(crop, down=factor, axis=-1, verbose=False)
    out = apply_inputs(x, applied)
    assert out.dtype == np.float32 and out.shape[-1] == len(applied.times)
    np.testing.assert_allclose(out, expected.astype(np.float32), rtol=1e-6, atol=1e-6)
    assert applied.sfreq == 100.0 / factor
    np.testing.assert_allclose(np.diff(applied.times), factor / 100.0)
    assert applied.times[0] == TIMES_100[applied.time_idx.start]


def test_decimate_keeps_slow_signals_to_the_edges_and_removes_fast_ones() -> None:
    sine = np.sin(2 * np.pi * 3.0 * TIMES_100 + 0.3)  # well below the new 25 Hz Nyquist
    applied = resolve_inputs(InputSpec(decimate=2), ["Oz"], TIMES_100, 100.0)
    out = apply_inputs(sine[None, :], applied)[0]
    np.testing.assert_allclose(out[3:-3], sine[::2][3:-3], atol=0.005)
    np.testing.assert_allclose(out, sine[::2], atol=0.05)  # edges too: no wrap-around
    fast = np.sin(2 * np.pi * 40.0 * TIMES_100)  # above it: removed, not aliased to 10 Hz
    assert np.abs(apply_inputs(fast[None, :], applied)[0, 5:-5]).max() < 0.01
    assert np.abs(fast[::2]).max() > 0.9  # what plain subsampling would keep


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (InputSpec(tmin=-0.5), r"tmin: -0.5 s is outside the epoch \(-0.200..0.790 s\)"),
        (InputSpec(tmax=0.8), r"tmax: 0.8 s is outside the epoch"),
        (InputSpec(tmin=0.001, tmax=0.009), r"window 0.001..0.009 s holds no sample"),
        (InputSpec(tmin=0.0, tmax=0.02, decimate=3), r"decimate: 3 leaves 1 sample\(s\) of the 3"),
        (InputSpec(decimate=100), r"decimate: 100 leaves 1 sample\(s\) of the 100"),
        (InputSpec(repetitions=5), r"repetitions: k=5 exceeds the 4 repetitions"),
    ],
)
def test_bad_inputs_for_the_data_are_one_line_errors(spec: InputSpec, match: str) -> None:
    _one_line_error(
        lambda: resolve_inputs(spec, OSF_CHANNELS, TIMES_100, 100.0, n_repetitions=4), match=match
    )


def test_the_default_is_the_data_itself() -> None:
    applied = resolve_inputs(InputSpec(), OSF_CHANNELS, TIMES_100, 100.0)
    assert applied.all_channels and applied.full_window and applied.ch_names == list(OSF_CHANNELS)
    x = np.random.default_rng(3).normal(size=(2, 17, 100))
    assert apply_inputs(x, applied).tobytes() == np.asarray(x, dtype=np.float32).tobytes()
    np.testing.assert_array_equal(applied.times, TIMES_100)


# grammar


@pytest.mark.parametrize(
    "spec",
    [
        InputSpec(),
        InputSpec(channels="occipital", tmin=0.0, tmax=0.4, decimate=2, repetitions=1),
        InputSpec(channels=["O1", "Oz", "O2"]),
        InputSpec(channels=["Oz"], tmin=-0.1),
        InputSpec(tmax=0.2, repetitions="average"),
        InputSpec(repetitions=3, decimate=5),
    ],
)
def test_text_and_dict_round_trip(spec: InputSpec) -> None:
    assert parse_input_spec(spec.to_text()) == spec
    assert InputSpec.from_dict(spec.to_dict()) == spec
    assert spec.is_default() == (spec.to_text() == "default")


def test_the_cli_grammar() -> None:
    assert parse_input_spec("channels:occipital/tmin:0/tmax:0.4/decimate:2/repetitions:1") == (
        InputSpec(channels="occipital", tmin=0.0, tmax=0.4, decimate=2, repetitions=1)
    )
    assert parse_input_spec("channels:O1+Oz+O2").channels == ["O1", "Oz", "O2"]
    assert parse_input_spec("channels:Oz").channels == ["Oz"]
    assert parse_input_spec("") == parse_input_spec("default") == InputSpec()
    assert InputSpec(tmin=0).to_text() == "tmin:0.0" and InputSpec(tmin=0).tmin == 0.0
    variants = parse_input_variants("full=default,occ=channels:occipital,early=tmax:0.2")
    assert list(variants) == ["full", "occ", "early"]
    assert variants["full"].is_default() and variants["occ"].channels == "occipital"
    assert variants["early"] == InputSpec(tmax=0.2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("channels", r"expected KEY:VALUE parts joined by '/', got 'channels'"),
        ("foo:1", r"unknown key 'foo' \(keys: channels, tmin"),
        ("tmin:0/tmin:1", r"tmin given twice"),
        ("tmin:abc", r"tmin must be a number of seconds, got 'abc'"),
        ("tmin:nan", r"tmin must be a finite number of seconds"),
        ("tmin:0.4/tmax:0.1", r"tmin \(0.4 s\) must be below tmax \(0.1 s\)"),
        ("decimate:0", r"decimate must be an integer >= 1, got 0"),
        ("decimate:1.5", r"decimate must be an integer, got '1.5'"),
        ("repetitions:0", r"repetitions must be 'average' or an integer k >= 1, got 0"),
        ("repetitions:all", r"repetitions must be 'average' or an integer k >= 1, got 'all'"),
        ("channels:all+Oz", r"'all' is a group name, not a channel"),
        ("channels:O1+O1", r"channels lists O1 more than once"),
        ("channels:O1+", r"channels must be a group or channel names"),
    ],
)
def test_bad_spec_text_is_a_one_line_error(text: str, match: str) -> None:
    message = _one_line_error(parse_input_spec, text, match=match)
    assert message.startswith(f"inputs {text!r}: ")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a=default,a=tmax:0.1", r"'a' given twice"),
        ("a b=default", r"expected NAME=SPEC items"),
        ("occipital", r"expected NAME=SPEC items"),
        ("x=tmax:oops", r"tmax must be a number of seconds"),
    ],
)
def test_bad_variants_are_one_line_errors(text: str, match: str) -> None:
    _one_line_error(parse_input_variants, text, match=match)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"decimate": "2"}, r"^study.yaml inputs: decimate must be an integer >= 1, got '2'$"),
        ({"repetitions": True}, r"^study.yaml inputs: repetitions must be 'average' or"),
        ({"channels": "cortex"}, r"^study.yaml inputs: channels: unknown group 'cortex'"),
        ({"window": [0, 1]}, r"^study.yaml inputs: window is not a known setting$"),
        ([1], r"^study.yaml inputs: must be a mapping"),
        ({"tmin": None, "tmax": float("inf")}, r"tmax must be a finite number"),
    ],
)
def test_bad_settings_are_one_line_errors(raw, match: str) -> None:
    _one_line_error(InputSpec.from_dict, raw, "study.yaml inputs", match=match)


# k-of-n repetition draws


def test_draws_are_k_distinct_repetitions_of_each_pair() -> None:
    drawn = draw_repetitions(500, 4, 3, epoch_generator(0, 0))
    assert drawn.shape == (500, 3) and drawn.dtype == torch.int64
    assert int(drawn.min()) >= 0 and int(drawn.max()) <= 3
    assert all(len(set(row)) == 3 for row in drawn.tolist())
    assert len({tuple(sorted(row)) for row in drawn.tolist()}) == 4  # every 3-of-4 subset occurs


def _toy_repetitions(pairs: int = 40, n: int = 4) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(5).normal(size=(2, pairs // 2, n, 3, 7))).float()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_each_pair_is_the_mean_of_its_drawn_repetitions(k: int) -> None:
    reps = _toy_repetitions()
    sampler = RepetitionSampler(reps, k, seed=7)
    flat = reps.reshape(-1, *reps.shape[2:])
    drawn = draw_repetitions(len(flat), 4, k, epoch_generator(7, 2))
    eeg = sampler.epoch_eeg(2)
    assert eeg.shape == (40, 3, 7)
    for p in range(len(flat)):
        torch.testing.assert_close(eeg[p], flat[p, drawn[p]].mean(0), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(mean_of_drawn(flat, drawn), eeg)


def test_draws_differ_across_epochs_and_repeat_with_the_seed() -> None:
    reps = _toy_repetitions()
    a, b = RepetitionSampler(reps, 2, seed=3), RepetitionSampler(reps, 2, seed=3)
    assert torch.equal(a.epoch_eeg(0), b.epoch_eeg(0)) and torch.equal(
        a.epoch_eeg(5), b.epoch_eeg(5)
    )
    assert not torch.equal(a.epoch_eeg(0), a.epoch_eeg(1))
    assert not torch.equal(a.epoch_eeg(0), RepetitionSampler(reps, 2, seed=4).epoch_eeg(0))


def test_k_equal_to_n_is_the_average() -> None:
    reps = _toy_repetitions()
    full = RepetitionSampler(reps, 4, seed=0).epoch_eeg(3)
    torch.testing.assert_close(full, reps.reshape(40, 4, 3, 7).mean(1), rtol=1e-6, atol=1e-6)


def _with_repetitions(data: DecodingData, k: int, n: int = 3) -> DecodingData:
    """``data`` whose training pairs also carry n noisy repetitions around their EEG."""
    rng = np.random.default_rng(11)
    eeg = data.train.eeg
    noise = rng.normal(size=(*eeg.shape[:2], n, *eeg.shape[2:])).astype(np.float32)
    reps = eeg[:, :, None] + noise - noise.mean(2, keepdims=True)
    split = dataclasses.replace(data.train, repetitions=reps.astype(np.float32))
    return dataclasses.replace(data, train=split, train_repetitions=k)


def test_training_on_draws_resumes_exactly_and_differs_from_the_average(tmp_path: Path) -> None:
    plain = toy_data(n_train=64, n_val=16, n_subjects=1)
    data = _with_repetitions(plain, k=1)
    full = train(FAST, data, checkpoint_dir=tmp_path / "full")
    resumed = train(FAST, data, resume_from=tmp_path / "full/epoch_0002")
    assert resumed.history == full.history
    averaged = train(dataclasses.replace(FAST, epochs=1), plain).history[0]
    assert full.history[0]["train_loss"] != averaged["train_loss"]
    assert full.history[0]["val_loss"] != averaged["val_loss"]


def test_draws_need_the_repetitions() -> None:
    data = toy_data(n_train=16, n_val=0)
    with pytest.raises(ValueError, match="train_repetitions=2 needs 1..n training repetitions"):
        dataclasses.replace(data, train_repetitions=2)
    with pytest.raises(ValueError, match="repetitions must be"):
        EvalSplit(data.train.eeg, data.train.embeddings, data.train.subjects, data.train.eeg)


# loading


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("inputs")
    make_dataset(root, subjects=(1, 2), n_channels=17, jpegs=False)
    return find_layout(root)


def _prepared(layout, subject: int, split: str, per_repetition: bool = False):
    return load_prepared(
        layout.eeg_file(subject, split), layout.root / ".study-cache", per_repetition=per_repetition
    )


def test_default_inputs_load_todays_arrays_and_protocol(layout) -> None:
    today = load_decoding_data(layout, "synclr", [1], include_test=True)
    spec = load_decoding_data(layout, "synclr", [1], include_test=True, inputs=InputSpec())
    for name in ("train", "val", "test"):
        a, b = getattr(today, name).eeg, getattr(spec, name).eeg
        assert a.tobytes() == b.tobytes() and a.shape == b.shape
    test_mean = _prepared(layout, 1, "test").mean
    assert today.test.eeg[0].tobytes() == np.asarray(test_mean, dtype=np.float32).tobytes()
    assert today.protocol == spec.protocol and today.train_repetitions is None
    assert today.train.repetitions is None
    assert today.protocol["inputs"] == {
        "spec": "default",
        "settings": InputSpec().to_dict(),
        "channels": list(OSF_CHANNELS),
        "n_channels": 17,
        "times_s": [-0.2, float(TIMES_100[-1])],
        "n_times": 100,
        "sfreq": 100.0,
        "resampling": None,
        "source": {"n_channels": 17, "n_times": 100},
    }
    assert today.protocol["eeg"] == "float32 mean over repetitions per image"


def test_inputs_apply_to_every_split_and_are_recorded(layout) -> None:
    spec = parse_input_spec("channels:occipital/tmin:0/tmax:0.6/decimate:2")
    data = load_decoding_data(layout, "synclr", [2], val_kind=None, include_test=True, inputs=spec)
    applied = resolve_inputs(spec, OSF_CHANNELS, TIMES_100, 100.0)
    assert data.channels == GROUPS_63["occipital"].split() and data.sfreq == 50.0
    assert data.n_channels == 8 and data.n_times == 30 == len(applied.times)  # round(61 / 2)
    for split, eeg in (("train", data.train.eeg), ("test", data.test.eeg)):
        expected = apply_inputs(_prepared(layout, 2, split).mean, applied)
        np.testing.assert_array_equal(eeg[0], expected)
    block = data.protocol["inputs"]
    assert block["spec"] == spec.to_text() and block["channels"] == data.channels
    assert block["n_times"] == data.protocol["n_times"] == 30 and block["sfreq"] == 50.0
    assert block["times_s"] == data.protocol["times_s"]
    np.testing.assert_allclose(block["times_s"], [0.0, 0.58], atol=1e-12)
    assert block["resampling"].startswith("mne.filter.resample")
    assert block["source"] == {"n_channels": 17, "n_times": 100}


def test_repetition_draws_load_per_repetition_training_eeg_only(layout) -> None:
    spec = InputSpec(channels="parietal", repetitions=2)
    data = load_decoding_data(layout, "synclr", [1, 2], include_test=True, inputs=spec)
    plain = load_decoding_data(layout, "synclr", [1, 2], include_test=True)
    assert data.train_repetitions == 2
    n_train = data.train.eeg.shape[1]
    assert data.train.repetitions.shape == (2, n_train, 4, 9, 100)
    all_rows = load_store(layout.embeddings_dir, "synclr").train[:, 0]
    train_idx = np.flatnonzero(np.isin(all_rows, data.train.embeddings[:, 0]))
    assert len(train_idx) == n_train
    applied = resolve_inputs(spec, OSF_CHANNELS, TIMES_100, 100.0)
    reps = _prepared(layout, 2, "train", per_repetition=True).repetitions
    np.testing.assert_array_equal(data.train.repetitions[1], apply_inputs(reps[train_idx], applied))
    parietal = applied.channel_idx
    for name in ("val", "test"):  # validation and test: the full average, as without draws
        assert data.__dict__[name].repetitions is None
        np.testing.assert_array_equal(
            data.__dict__[name].eeg, plain.__dict__[name].eeg[:, :, parietal]
        )
    assert "mean of k=2 of the 4 repetitions" in data.protocol["eeg"]
    assert data.protocol["inputs"]["settings"]["repetitions"] == 2
    _one_line_error(
        lambda: load_decoding_data(layout, "synclr", [1], inputs=InputSpec(repetitions=5)),
        match="repetitions: k=5 exceeds the 4 repetitions per training image",
    )


def test_run_data_takes_inputs(layout) -> None:
    data = load_run_data(layout, "synclr", 1, "intra", [1, 2], inputs=InputSpec(tmax=0.0))
    assert data.n_times == 21 and data.test.eeg.shape[-1] == 21 and data.val is None


def test_shared_eeg_carries_the_repetitions(layout, monkeypatch: pytest.MonkeyPatch) -> None:
    store: list[object] = []

    def put(value: object) -> int:
        store.append(value)
        return len(store) - 1

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(put=put, get=store.__getitem__))
    data = load_decoding_data(layout, "synclr", [1], inputs=InputSpec(repetitions=1))
    resolved = SharedEEGData.from_data(data, share_eeg(data)).resolve()
    assert resolved.train_repetitions == 1
    assert resolved.train.repetitions is data.train.repetitions
    plain = load_decoding_data(layout, "synclr", [1])
    back = SharedEEGData.from_data(plain, share_eeg(plain)).resolve()
    assert back.train_repetitions is None and back.train.repetitions is None
    with pytest.raises(ValueError, match="not obtained like the shared EEG"):
        SharedEEGData.from_data(plain, share_eeg(data))


def test_files_with_different_repetition_counts_cannot_be_stacked(tmp_path: Path) -> None:
    make_dataset(tmp_path, subjects=(1, 2), n_channels=17, jpegs=False)
    path = tmp_path / "eeg" / "sub-02" / "preprocessed_eeg_training.npy"
    write_format_a(path, eeg_content(36, 3, "osf", 17, seed=2))
    layout = find_layout(tmp_path)
    with pytest.raises(DataError, match="sub-02.*expected the 4 repetitions per image.*found 3"):
        load_decoding_data(layout, "synclr", inputs=InputSpec(repetitions=1))
