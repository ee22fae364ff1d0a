"""`study preprocess` against an independent implementation of the official THINGS-EEG2 script.

The reference below is written from the official pipeline's description (docs/preprocess.md),
separately from ``trainables.things_eeg2.preprocess``: a full 64-row ``RawArray`` per session,
``find_events``, ``pick_channels_regexp`` + ``raw.pick``, targets deleted, one ``mne.Epochs`` over
all events, ``resample``, ``sklearn.utils.shuffle`` for the repetitions, sklearn's
``discriminant_analysis._cov(..., shrinkage='auto')`` for MVNN, scipy's
``fractional_matrix_power``, and the official merge. The raw tree is a micro synthetic one
(4 training and 2 test conditions), written by the same generator as `study synth --raw`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mne
import numpy as np
import pytest
from scipy.linalg import fractional_matrix_power
from sklearn.discriminant_analysis import _cov
from sklearn.utils import shuffle

import study.preprocess as orchestration
from study.cli import main
from study.synthetic.params import GenerativeParams, stream_rng
from study.synthetic.raw import write_raw_subject
from trainables.things_eeg2.formats import OSF_CHANNELS
from trainables.things_eeg2.preprocess import shrunk_covariances
from trainables.things_eeg2.raw import read_raw_session
from trainables.things_eeg2.safe_pickle import load_npy_object

N_TRAIN, N_TEST = 4, 2
SEED = 20200220


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    rng = stream_rng(7, 99)
    latents = {
        "train": rng.standard_normal((N_TRAIN, 32)),
        "test": rng.standard_normal((N_TEST, 32)),
    }
    write_raw_subject(root, 1, latents, GenerativeParams(), seed=3)
    return root


def reference(raw_dir: Path, sfreq: float, tmax: float, mvnn: str, source: str, seed: int = SEED):
    """The official script's steps, straightforwardly (test, train) in release-A layout."""
    epoched = {"test": [], "train": []}
    conditions = {"test": [], "train": []}
    for ses in range(1, 5):
        for part, name, max_rep in (("test", "test", 20), ("train", "training", 2)):
            path = raw_dir / "sub-01" / f"ses-{ses:02d}" / f"raw_eeg_{name}.npy"
            d = np.load(path, allow_pickle=True).item()  # our own test file: trusted
            info = mne.create_info(d["ch_names"], d["sfreq"], d["ch_types"])
            raw = mne.io.RawArray(d["raw_eeg_data"], info, verbose=False)
            events = mne.find_events(raw, stim_channel="stim", verbose=False)
            idx = mne.pick_channels_regexp(raw.info["ch_names"], "^O *|^P *")
            raw.pick([raw.info["ch_names"][c] for c in idx])
            events = np.delete(events, np.where(events[:, 2] == 99999)[0], 0)
            epochs = mne.Epochs(
                raw, events, tmin=-0.2, tmax=tmax, baseline=(None, 0), preload=True, verbose=False
            )
            if sfreq < 1000:
                epochs.resample(sfreq, verbose=False)
            data, codes = epochs.get_data(), epochs.events[:, 2]
            img_cond = np.unique(codes)
            out = np.zeros((len(img_cond), max_rep, data.shape[1], data.shape[2]))
            for i, c in enumerate(img_cond):
                sel = shuffle(np.where(codes == c)[0], random_state=seed, n_samples=max_rep)
                out[i] = data[sel]
            epoched[part].append(out)
            conditions[part].append(img_cond)
    ch_names, times = epochs.info["ch_names"], epochs.times
    for s in range(4):
        if mvnn == "none":
            continue
        parts = ["train"] if source == "train" else ["test", "train"]
        sigmas = []
        for p in parts:
            per_cond = []
            for cond in epoched[p][s]:
                if mvnn == "epochs":
                    per_cond.append(np.mean([_cov(rep.T, shrinkage="auto") for rep in cond], 0))
                else:
                    per_cond.append(
                        np.mean(
                            [_cov(cond[:, :, t], shrinkage="auto") for t in range(cond.shape[2])], 0
                        )
                    )
            sigmas.append(np.mean(per_cond, 0))
        inv = fractional_matrix_power(np.mean(sigmas, 0), -0.5)
        for p in ("test", "train"):
            x = epoched[p][s]
            flat = x.reshape(-1, x.shape[2], x.shape[3])
            epoched[p][s] = (flat.swapaxes(1, 2) @ inv).swapaxes(1, 2).reshape(x.shape)
    test = np.concatenate(epoched["test"], axis=1)
    white = np.concatenate(epoched["train"], axis=0)
    img = np.concatenate(conditions["train"])
    train = np.zeros((len(np.unique(img)), white.shape[1] * 2, white.shape[2], white.shape[3]))
    for i in range(len(np.unique(img))):
        train[i] = np.concatenate(white[np.where(img == i + 1)[0]], axis=0)
    return {"test": test, "train": train}, ch_names, times


def load(path: Path) -> dict:
    with open(path, "rb") as fh:
        return load_npy_object(fh, path)


def run(raw_dir: Path, out: Path, *extra: str) -> int:
    return main(["-q", "preprocess", "--raw", str(raw_dir), "--out", str(out), *extra])


@pytest.mark.parametrize(
    ("mvnn", "source"), [("epochs", "train"), ("epochs", "train+test"), ("time", "train")]
)
def test_matches_the_official_pipeline(raw_dir: Path, tmp_path: Path, mvnn: str, source: str):
    assert run(raw_dir, tmp_path, "--mvnn", mvnn, "--mvnn-covariance", source) == 0
    want, ch_names, times = reference(raw_dir, 100.0, 0.8, mvnn, source)
    for split, name, shape in (
        ("train", "preprocessed_eeg_training.npy", (N_TRAIN, 4, 17, 100)),
        ("test", "preprocessed_eeg_test.npy", (N_TEST, 80, 17, 100)),
    ):
        got = load(tmp_path / "sub-01" / name)
        data = got["preprocessed_eeg_data"]
        assert data.shape == shape and data.dtype == np.float64
        assert got["ch_names"] == list(OSF_CHANNELS) == list(ch_names)
        np.testing.assert_allclose(got["times"], -0.2 + np.arange(100) / 100, atol=1e-9)
        np.testing.assert_allclose(got["times"], times, atol=1e-12)
        np.testing.assert_allclose(
            data, want[split], rtol=1e-7, atol=1e-9 * np.abs(want[split]).max()
        )
        np.testing.assert_allclose(data.mean(1), want[split].mean(1), rtol=1e-7, atol=1e-9)
    import json

    prov = json.loads((tmp_path / "sub-01" / "preprocessing.json").read_text())
    assert prov["settings"]["mvnn"] == mvnn and prov["settings"]["mvnn_covariance"] == source
    assert prov["versions"]["mne"] == mne.__version__ and len(prov["inputs"]) == 8
    assert all(v["size"] > 0 for v in prov["inputs"].values())


def test_all_channels_250hz_without_mvnn(raw_dir: Path, tmp_path: Path):
    args = ("--channels", "all", "--sfreq", "250", "--tmax", "1.0", "--mvnn", "none")
    assert run(raw_dir, tmp_path, *args) == 0
    got = load(tmp_path / "sub-01" / "preprocessed_eeg_test.npy")
    assert got["preprocessed_eeg_data"].shape == (N_TEST, 80, 63, 300)
    np.testing.assert_allclose(got["times"], -0.2 + np.arange(300) / 250, atol=1e-9)
    # Without MVNN the data stays in volts: the reference has no whitening either.
    want, _, _ = reference(raw_dir, 250.0, 1.0, "none", "train")
    picked = [got["ch_names"].index(n) for n in OSF_CHANNELS]
    np.testing.assert_allclose(
        got["preprocessed_eeg_data"][:, :, picked], want["test"], rtol=1e-7, atol=1e-15
    )


def test_channel_list_keeps_the_given_order(raw_dir: Path, tmp_path: Path):
    assert run(raw_dir, tmp_path, "--channels", "Oz,Pz,Cz", "--mvnn", "none") == 0
    got = load(tmp_path / "sub-01" / "preprocessed_eeg_training.npy")
    assert got["ch_names"] == ["Oz", "Pz", "Cz"] and got["preprocessed_eeg_data"].shape[2] == 3


def test_shrunk_covariances_equal_sklearn():
    x = np.random.default_rng(0).standard_normal((5, 30, 6)) * np.arange(1, 7)
    x[2, :, 1] = 3.0  # a constant channel
    got = shrunk_covariances(x)
    for b in range(len(x)):
        np.testing.assert_allclose(got[b], _cov(x[b], shrinkage="auto"), rtol=1e-10, atol=1e-12)
    two = x[:, :2]  # two samples, as per time point of a training condition
    for b in range(len(x)):
        np.testing.assert_allclose(
            shrunk_covariances(two)[b], _cov(two[b], shrinkage="auto"), atol=1e-12
        )


def test_raw_data_is_memory_mapped(raw_dir: Path):
    session = read_raw_session(raw_dir / "sub-01" / "ses-01" / "raw_eeg_test.npy")
    assert isinstance(session.data, np.memmap) and session.data.shape[0] == 64
    assert session.ch_names[-1] == "stim" and session.sfreq == 1000.0


# --- bad input: one line naming the file, exit 2, nothing written ---------------------------


def _rewrite(path: Path, change) -> None:
    d = np.load(path, allow_pickle=True).item()
    change(d)
    os.chmod(path, 0o644)
    np.save(path, d, allow_pickle=True)


def _drop_one_test_event(d: dict) -> None:
    stim = d["raw_eeg_data"][-1]
    onset = int(np.flatnonzero((stim == 2) & (np.roll(stim, 1) == 0))[0])
    stim[onset : onset + 10] = 0


def _truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


CASES = {
    "missing session": (
        "ses-03/raw_eeg_training.npy",
        lambda p: p.unlink(),
        "missing raw session file",
    ),
    "truncated file": ("ses-02/raw_eeg_test.npy", _truncate, "truncated"),
    "wrong keys": (
        "ses-01/raw_eeg_training.npy",
        lambda p: _rewrite(p, lambda d: d.pop("ch_types")),
        "missing ch_types",
    ),
    "no stim channel": (
        "ses-04/raw_eeg_test.npy",
        lambda p: _rewrite(p, lambda d: d["ch_names"].__setitem__(-1, "STI 014")),
        "no stim channel",
    ),
    "too few repetitions": (
        "ses-02/raw_eeg_test.npy",
        lambda p: _rewrite(p, _drop_one_test_event),
        "condition 2 has 19 repetition(s)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_writes_nothing(raw_dir: Path, tmp_path: Path, capsys, case: str):
    bad = tmp_path / "raw"
    shutil.copytree(raw_dir, bad)
    rel, damage, message = CASES[case]
    path = bad / "sub-01" / rel
    damage(path)
    out = tmp_path / "out"
    assert run(bad, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert str(path) in err and message in err, err
    assert not out.exists() or not any(out.rglob("*"))


def _move_condition(d: dict) -> None:
    stim = d["raw_eeg_data"][-1]
    code = int(stim[(stim > 0) & (stim != 99999)][0])
    stim[stim == code] = N_TRAIN + 1  # now in one session only, and `code` in one fewer


def test_training_condition_in_one_session(raw_dir: Path, tmp_path: Path, capsys):
    bad = tmp_path / "raw"
    shutil.copytree(raw_dir, bad)
    _rewrite(bad / "sub-01" / "ses-01" / "raw_eeg_training.npy", _move_condition)
    assert run(bad, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad / "sub-01") in err
    assert "is in 1 session(s), expected 2" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sfreq", "2000"), "--sfreq 2000 is above"),
        (("--tmin", "0.1"), "--tmin must be <= 0"),
        (("--tmin", "0.5", "--tmax", "0.2"), "--tmin must be below --tmax"),
    ],
)
def test_bad_settings(raw_dir: Path, tmp_path: Path, capsys, args, message):
    assert run(raw_dir, tmp_path / "out", *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and not (tmp_path / "out").exists()


def test_unknown_channel_names(raw_dir: Path, tmp_path: Path, capsys):
    assert run(raw_dir, tmp_path / "out", "--channels", "Pz,Xx7") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown channel name(s) 'Xx7'" in err
    assert "raw_eeg_" in err and not (tmp_path / "out").exists()


# --- resume -------------------------------------------------------------------------------------


def test_resume_continues_a_half_processed_subject(
    raw_dir: Path, tmp_path: Path, monkeypatch, capsys
):
    fresh = tmp_path / "fresh"
    assert run(raw_dir, fresh) == 0
    out = tmp_path / "out"
    real = orchestration._process_and_keep
    processed: list[int] = []

    def stop_at_third(checked, session, settings, partial):
        if session == 3:
            raise KeyboardInterrupt
        processed.append(session)
        return real(checked, session, settings, partial)

    monkeypatch.setattr(orchestration, "_process_and_keep", stop_at_third)
    assert run(raw_dir, out) == 130
    partial = out / "sub-01" / ".partial"
    assert sorted(p.name for p in partial.glob("*.json")) == [
        "run.json",
        "ses-01.json",
        "ses-02.json",
    ]
    assert not (out / "sub-01" / "preprocessed_eeg_training.npy").exists()

    def record(checked, session, settings, partial):
        processed.append(session)
        return real(checked, session, settings, partial)

    processed.clear()
    monkeypatch.setattr(orchestration, "_process_and_keep", record)
    assert run(raw_dir, out) == 0
    assert processed == [3, 4] and not partial.exists()
    for name in ("preprocessed_eeg_training.npy", "preprocessed_eeg_test.npy"):
        a, b = load(out / "sub-01" / name), load(fresh / "sub-01" / name)
        np.testing.assert_array_equal(a["preprocessed_eeg_data"], b["preprocessed_eeg_data"])
    processed.clear()
    capsys.readouterr()
    assert main(["preprocess", "--raw", str(raw_dir), "--out", str(out)]) == 0
    assert processed == [] and "up to date" in capsys.readouterr().err
    # Other settings: the subject is done again, not skipped.
    assert run(raw_dir, out, "--seed", "1") == 0 and processed == [1, 2, 3, 4]


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_a_raw_file_naming_other_code_is_refused(tmp_path: Path):
    path = tmp_path / "raw_eeg_test.npy"
    np.save(path, {"raw_eeg_data": _Evil(), "ch_names": [], "ch_types": [], "sfreq": 1000.0})
    from trainables.common.errors import DataError

    with pytest.raises(DataError, match="refused to unpickle: it names posix.getcwd"):
        read_raw_session(path)
