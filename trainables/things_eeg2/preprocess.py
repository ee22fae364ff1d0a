"""The official THINGS-EEG2 preprocessing, one raw session at a time (docs/preprocess.md).

Per session and partition: events from the 'stim' channel (``mne.find_events``), the channel
pick (posterior = names matching ``'^O *|^P *'`` in recording order), target trials (99999)
dropped, ``mne.Epochs(tmin, tmax, baseline=(None, 0))``, ``resample`` when the requested rate
is below the recording's, then each condition's repetitions gathered in a seeded random order
(the official code's ``sklearn.utils.shuffle(idx, random_state=seed, n_samples=reps)``). Then
MVNN per session: Ledoit-Wolf covariances on standardised channels, rescaled, averaged over
repetitions (or time points) and conditions; the partition(s) averaged; whitening by the inverse
matrix square root. Epoching runs over chunks of events so that only one chunk sits in memory at
the recording's rate; each epoch is processed on its own, so chunking changes no number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainables.common.errors import ConfigError, DataError
from trainables.things_eeg2.formats import (
    POSTERIOR_REGEX,
    RAW_REPS_PER_SESSION,
    RAW_STIM_CHANNEL,
    RAW_TARGET_CODE,
)
from trainables.things_eeg2.raw import RawSession

PIPELINE_VERSION = 1
OFFICIAL_SEED = 20200220  # the official preprocessing script's default seed
MVNN_MODES = ("epochs", "time", "none")
COVARIANCE_SOURCES = ("train", "train+test")
EPOCH_CHUNK_BYTES = 256 << 20  # epochs at the recording's rate held at once
LW_CHUNK = 4096  # covariance estimates computed together


@dataclass(frozen=True)
class PreprocessSettings:
    """Every setting that changes the output (recorded in the provenance file)."""

    sfreq: float = 100.0
    channels: str = "posterior"  # posterior | all | comma-separated names
    tmin: float = -0.2
    tmax: float = 0.8
    mvnn: str = "epochs"
    mvnn_covariance: str = "train"
    seed: int = OFFICIAL_SEED

    def validate(self) -> None:
        if not (math.isfinite(self.sfreq) and self.sfreq > 0):
            raise ConfigError(f"--sfreq must be a positive number of Hz, got {self.sfreq}")
        if not (math.isfinite(self.tmin) and math.isfinite(self.tmax) and self.tmin < self.tmax):
            raise ConfigError(f"--tmin must be below --tmax, got {self.tmin} and {self.tmax}")
        if self.tmin > 0:
            raise ConfigError(f"--tmin must be <= 0 (baseline (None, 0)), got {self.tmin}")
        if self.mvnn not in MVNN_MODES:
            raise ConfigError(f"--mvnn must be one of {', '.join(MVNN_MODES)}, got {self.mvnn}")
        if self.mvnn_covariance not in COVARIANCE_SOURCES:
            raise ConfigError(
                f"--mvnn-covariance must be one of {', '.join(COVARIANCE_SOURCES)}, "
                f"got {self.mvnn_covariance}"
            )
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be in 0..{2**32 - 1}, got {self.seed}")
        if not self.channels.strip():
            raise ConfigError("--channels must be posterior, all, or channel names")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pipeline_version": PIPELINE_VERSION}


def pick_names(session: RawSession, spec: str) -> list[str]:
    """The channels ``spec`` selects from a session's EEG channels (a DataError names the file)."""
    import mne

    eeg = session.eeg_names
    if spec == "posterior":
        names = [eeg[i] for i in mne.pick_channels_regexp(eeg, POSTERIOR_REGEX)]
        if not names:
            raise DataError(f"{session.path}: no channel matches {POSTERIOR_REGEX!r}")
        return names
    if spec == "all":
        return list(eeg)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in eeg]
    if unknown:
        raise DataError(
            f"{session.path}: unknown channel name(s) {', '.join(map(repr, unknown))} "
            f"(the file's EEG channels: {' '.join(eeg)})"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"--channels names a channel twice: {spec}")
    return names


def find_session_events(session: RawSession) -> np.ndarray:
    """``mne.find_events`` on the stim channel (defaults, as the official code): (n, 3)."""
    import mne

    stim = np.asarray(session.data[session.stim_index], dtype=np.float64)[None, :]
    info = mne.create_info([RAW_STIM_CHANNEL], session.sfreq, ["stim"])
    raw = mne.io.RawArray(stim, info, verbose=False)
    try:
        return mne.find_events(raw, stim_channel=RAW_STIM_CHANNEL, verbose=False)
    except ValueError as exc:
        raise DataError(f"{session.path}: stim channel unreadable ({exc})") from None


def image_events(
    session: RawSession, events: np.ndarray, split: str, settings: PreprocessSettings
) -> np.ndarray:
    """The events without targets, checked: every epoch inside the recording and every
    condition shown at least the session's repetitions (a DataError names the file)."""
    events = events[events[:, 2] != RAW_TARGET_CODE]
    if len(events) == 0:
        raise DataError(f"{session.path}: no image events on the stim channel")
    first = int(round(settings.tmin * session.sfreq))
    last = int(round(settings.tmax * session.sfreq))
    outside = (events[:, 0] + first < 0) | (events[:, 0] + last >= session.n_samples)
    if outside.any():
        sample = int(events[np.argmax(outside), 0])
        raise DataError(
            f"{session.path}: the epoch of the event at sample {sample} runs past the recording "
            f"({session.n_samples} samples; truncated recording?)"
        )
    if settings.sfreq > session.sfreq:
        raise ConfigError(
            f"--sfreq {settings.sfreq:g} is above {session.path}'s rate {session.sfreq:g} Hz"
        )
    codes, counts = np.unique(events[:, 2], return_counts=True)
    if codes[0] < 1:
        raise DataError(f"{session.path}: condition code {codes[0]} on the stim channel (< 1)")
    reps = RAW_REPS_PER_SESSION[split]
    few = counts < reps
    if few.any():
        raise DataError(
            f"{session.path}: condition {int(codes[few][0])} has {int(counts[few][0])} "
            f"repetition(s), the session needs {reps} per condition"
        )
    return events


def epoch_session(
    session: RawSession, events: np.ndarray, names: list[str], settings: PreprocessSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Epochs float64 (events, channels, times) and their times, in chunks of events."""
    import mne

    data = session.rows(names)
    raw = mne.io.RawArray(data, mne.create_info(names, session.sfreq, "eeg"), verbose=False)
    del data
    n_times = int(round((settings.tmax - settings.tmin) * session.sfreq)) + 1
    chunk = max(1, EPOCH_CHUNK_BYTES // (8 * len(names) * n_times))
    out, times = None, None
    for start in range(0, len(events), chunk):
        part = events[start : start + chunk]
        epochs = mne.Epochs(
            raw,
            part,
            tmin=settings.tmin,
            tmax=settings.tmax,
            baseline=(None, 0),
            preload=True,
            verbose=False,
        )
        if len(epochs) != len(part):
            raise DataError(f"{session.path}: MNE dropped epochs ({epochs.drop_log_stats():.1f}%)")
        if settings.sfreq < session.sfreq:
            epochs.resample(settings.sfreq, verbose=False)
        part_data = epochs.get_data(copy=False)
        if out is None:
            out = np.empty((len(events), *part_data.shape[1:]), dtype=np.float64)
        out[start : start + len(part)] = part_data
        times = epochs.times
        del epochs, part_data
    assert out is not None
    return out, np.asarray(times)


def sort_repetitions(
    epochs: np.ndarray, codes: np.ndarray, reps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(conditions, reps, channels, times) and the sorted condition codes: per condition, its
    epochs in recording order, shuffled by ``RandomState(seed)`` and the first ``reps`` kept."""
    conditions = np.unique(codes)
    out = np.empty((len(conditions), reps, *epochs.shape[1:]), dtype=np.float64)
    for i, code in enumerate(conditions):
        index = np.flatnonzero(codes == code)
        order = np.arange(len(index))
        np.random.RandomState(seed).shuffle(order)
        out[i] = epochs[index[order[:reps]]]
    return out, conditions


def shrunk_covariances(x: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf covariance of each ``x[b]`` (samples, features) computed on standardised
    features and rescaled to the data's variances: (B, features, features)."""
    n, p = x.shape[1], x.shape[2]
    centred = x - x.mean(axis=1, keepdims=True)
    scale = np.sqrt((centred**2).mean(axis=1))  # (B, p), ddof 0
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
    z = centred / scale[:, None, :]
    emp = np.einsum("bni,bnj->bij", z, z) / n
    mu = np.trace(emp, axis1=1, axis2=2) / p
    beta_sum = ((z**2).sum(axis=2) ** 2).sum(axis=1)
    delta_sum = (emp**2).sum(axis=(1, 2))
    beta = (beta_sum / n - delta_sum) / (p * n)
    delta = (delta_sum - p * mu**2) / p
    beta = np.minimum(beta, delta)
    shrink = np.divide(beta, delta, out=np.zeros_like(beta), where=beta != 0)
    cov = (1.0 - shrink)[:, None, None] * emp
    cov[:, np.arange(p), np.arange(p)] += (shrink * mu)[:, None]
    return scale[:, :, None] * cov * scale[:, None, :]


def mvnn_covariance(sorted_data: np.ndarray, mode: str) -> np.ndarray:
    """One partition's covariance (channels, channels) from (conditions, reps, channels, times).

    epochs: per repetition over time points, averaged over repetitions then conditions.
    time: per time point over repetitions, averaged over time points then conditions. Every
    condition has the same count, so both are plain means over all estimates."""
    n_cond, n_reps, n_ch, n_t = sorted_data.shape
    if mode == "epochs":
        samples = sorted_data.reshape(n_cond * n_reps, n_ch, n_t).transpose(0, 2, 1)
    else:
        samples = sorted_data.transpose(0, 3, 1, 2).reshape(n_cond * n_t, n_reps, n_ch)
    total = np.zeros((n_ch, n_ch))
    for start in range(0, len(samples), LW_CHUNK):
        total += shrunk_covariances(samples[start : start + LW_CHUNK]).sum(axis=0)
    return total / len(samples)


def whitening_matrix(sigma: np.ndarray) -> np.ndarray:
    """``sigma ** -0.5`` (scipy's fractional matrix power), real."""
    from scipy.linalg import fractional_matrix_power

    inv_sqrt = np.real_if_close(fractional_matrix_power(sigma, -0.5), tol=1e6)
    if np.iscomplexobj(inv_sqrt) or not np.isfinite(inv_sqrt).all():
        raise DataError("the MVNN covariance is not positive definite (constant channels?)")
    return np.asarray(inv_sqrt, dtype=np.float64)


def whiten(sorted_data: np.ndarray, inv_sqrt: np.ndarray) -> np.ndarray:
    """Each epoch's (channels, times) matrix left-multiplied by ``inv_sqrt`` (symmetric), in
    place, a chunk of conditions at a time; returns ``sorted_data``."""
    for start in range(0, len(sorted_data), LW_CHUNK):
        part = sorted_data[start : start + LW_CHUNK]
        part[...] = np.einsum("ij,crjt->crit", inv_sqrt, part, optimize=True)
    return sorted_data


@dataclass
class SessionResult:
    """One session after epoching, sorting and MVNN."""

    data: dict[str, np.ndarray]  # split -> (conditions, reps, channels, times)
    conditions: dict[str, np.ndarray]  # split -> sorted condition codes
    ch_names: list[str]
    times: np.ndarray
    info: dict[str, Any]  # counts for the provenance


def process_session(
    sessions: dict[str, RawSession],
    events: dict[str, np.ndarray],
    settings: PreprocessSettings,
) -> SessionResult:
    """Epoch, sort and whiten one session's test and training partitions."""
    names = pick_names(sessions["train"], settings.channels)
    data, conditions, info = {}, {}, {}
    times = None
    for split in ("test", "train"):
        session = sessions[split]
        if pick_names(session, settings.channels) != names:
            raise DataError(f"{session.path}: channels differ from {sessions['train'].path}")
        epochs, times = epoch_session(session, events[split], names, settings)
        sorted_data, codes = sort_repetitions(
            epochs, events[split][:, 2], RAW_REPS_PER_SESSION[split], settings.seed
        )
        del epochs
        data[split], conditions[split] = sorted_data, codes
        info[split] = {"image_events": int(len(events[split])), "conditions": int(len(codes))}
    if settings.mvnn != "none":
        sources = ["train"] if settings.mvnn_covariance == "train" else ["test", "train"]
        sigma = np.mean([mvnn_covariance(data[s], settings.mvnn) for s in sources], axis=0)
        inv_sqrt = whitening_matrix(sigma)
        for split in data:
            data[split] = whiten(data[split], inv_sqrt)
    assert times is not None
    return SessionResult(data, conditions, names, times, info)


def describe_inputs(paths: list[Path]) -> dict[str, dict[str, int]]:
    """Path -> size and mtime_ns of each input file (for provenance and resume)."""
    out = {}
    for path in paths:
        st = Path(path).stat()
        out[str(path)] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out
