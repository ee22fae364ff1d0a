"""The twin's raw release: continuous 1000 Hz recordings of 63 EEG channels and a stim channel,
from the same generative model as the preprocessed twin (docs/preprocess.md, "study synth --raw").

Per subject and session, the training and test runs are separate files. Each image condition's
response is the twin's (same latents, topographies and temporal kernels, sampled at 1000 Hz over
RESPONSE_S after onset) times a per-trial gain, added at a jittered onset; the background is the
twin's spatially correlated, time-smoothed noise drawn continuously, plus per-channel offsets and
slow drifts (which the baseline correction removes); everything is scaled to volts. Target trials
(code 99999) carry no image response. A training condition is shown in 2 of the 4 sessions,
twice each; a test condition 20 times in every session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from study.synthetic.eeg_model import SubjectModel
from study.synthetic.params import GenerativeParams, Stream, stream_rng
from study.synthetic.pickle_stream import LazyArray, dump_npy_object
from trainables.common.atomic import atomic_write
from trainables.things_eeg2.formats import (
    RAW_CH_NAMES_KEY,
    RAW_CH_TYPES_KEY,
    RAW_DATA_KEY,
    RAW_EEG_CHANNELS,
    RAW_FILES,
    RAW_REPS_PER_SESSION,
    RAW_SESSIONS,
    RAW_SFREQ,
    RAW_SFREQ_KEY,
    RAW_STIM_CHANNEL,
    RAW_TARGET_CODE,
    TIMES_START_S,
    EEGFormat,
    session_folder,
    subject_folder,
)

RESPONSE_S = 1.2  # each trial's response is added over this long after its onset
SOA_S = 0.2  # stimulus onset asynchrony (100 ms image + 100 ms blank, as in the experiment)
JITTER_S = 0.03  # plus a uniform 0..JITTER_S
TARGET_RATE = 0.06  # chance of a target trial before each image trial
LEAD_S, TAIL_S = 1.0, 1.5  # recording before the first and after the last onset
STIM_SAMPLES = 10  # the stim channel holds the code this many samples
VOLTS_PER_UNIT = 1e-5  # one unit of the twin's (whitened-scale) noise is 10 microvolts
OFFSET_UNITS, DRIFT_UNITS, DRIFT_HZ = 3.0, 1.0, (0.02, 0.2)
NOISE_BLOCK = 1 << 17  # samples of noise drawn at a time, each block from its own stream
TRAIN_SESSION_PAIRS = ((0, 1), (2, 3), (0, 2), (1, 3))  # each session in 2 of the 4 pairs
HIGHPASS_HZ, LOWPASS_HZ = 0.01, 100.0  # recorded as the release records its filter settings


def raw_format() -> EEGFormat:
    """The twin's sampling of one response: 63 channels at 1000 Hz from 0 to RESPONSE_S."""
    n = int(round(RESPONSE_S * RAW_SFREQ))
    pre = int(round(-TIMES_START_S * RAW_SFREQ))
    return EEGFormat("raw", "npy", RAW_EEG_CHANNELS, RAW_SFREQ, pre + n, n)


def train_sessions(n_train: int, seed: int, subject: int) -> list[np.ndarray]:
    """1-based training condition codes held by each session: every condition in two sessions,
    each session about half of them."""
    perm = stream_rng(seed, Stream.RAW, subject, 0).permutation(n_train)
    held: list[list[int]] = [[] for _ in range(RAW_SESSIONS)]
    for j, condition in enumerate(perm):
        for session in TRAIN_SESSION_PAIRS[j % len(TRAIN_SESSION_PAIRS)]:
            held[session].append(int(condition) + 1)
    return [np.sort(np.asarray(h, dtype=np.int64)) for h in held]


@dataclass(frozen=True)
class Schedule:
    """One recording's events: onset samples, codes (targets included), total samples."""

    onsets: np.ndarray
    codes: np.ndarray
    n_samples: int


def make_schedule(conditions: np.ndarray, reps: int, rng: np.random.Generator) -> Schedule:
    trials = rng.permutation(np.repeat(conditions, reps))
    targets = rng.random(len(trials)) < TARGET_RATE
    codes = []
    for code, target in zip(trials, targets, strict=True):
        if target:
            codes.append(RAW_TARGET_CODE)
        codes.append(int(code))
    codes_arr = np.asarray(codes, dtype=np.int64)
    gaps = SOA_S + rng.uniform(0.0, JITTER_S, len(codes_arr))
    gaps[0] = LEAD_S
    onsets = np.round(np.cumsum(gaps) * RAW_SFREQ).astype(np.int64)
    n_samples = int(onsets[-1] + round(TAIL_S * RAW_SFREQ))
    return Schedule(onsets, codes_arr, n_samples)


def _background(
    model: SubjectModel, out: np.ndarray, seed: int, subject: int, key: tuple[int, int]
) -> None:
    """Fill ``out`` (channels, samples) with noise + offsets + drifts, in the twin's units."""
    n_ch, n_samples = out.shape
    mix = model.noise_mix.astype(np.float32)
    scale = model.params.noise_std * model.smooth_gain
    for block, start in enumerate(range(0, n_samples, NOISE_BLOCK)):
        stop = min(start + NOISE_BLOCK, n_samples)
        rng = stream_rng(seed, Stream.RAW, subject, 1, *key, block)
        white = rng.standard_normal((n_ch, stop - start), dtype=np.float32)
        if model.smooth_sigma > 0:
            gaussian_filter1d(white, model.smooth_sigma, axis=-1, output=white, mode="reflect")
        out[:, start:stop] = mix @ white
        out[:, start:stop] *= scale
    rng = stream_rng(seed, Stream.RAW, subject, 2, *key)
    t = np.arange(n_samples) / RAW_SFREQ
    offsets = rng.uniform(-OFFSET_UNITS, OFFSET_UNITS, n_ch)
    freqs = rng.uniform(*DRIFT_HZ, n_ch)
    phases = rng.uniform(0, 2 * np.pi, n_ch)
    for c in range(n_ch):
        out[c] += offsets[c] + DRIFT_UNITS * np.sin(2 * np.pi * freqs[c] * t + phases[c])


def raw_recording(
    model: SubjectModel, latents: np.ndarray, schedule: Schedule, key: tuple[int, int]
) -> np.ndarray:
    """The recording float64 (64, samples): 63 EEG rows in volts and the stim row."""
    data = np.empty((len(model.fmt.ch_names) + 1, schedule.n_samples), dtype=np.float64)
    eeg = data[:-1]
    _background(model, eeg, model.seed, model.subject, key)
    n_ch, n_t = len(model.fmt.ch_names), model.fmt.n_samples
    image = np.flatnonzero(schedule.codes != RAW_TARGET_CODE)
    rng = stream_rng(model.seed, Stream.RAW, model.subject, 3, *key)
    gains = 1.0 + model.params.amplitude_jitter * rng.standard_normal(len(image))
    for start in range(0, len(image), 256):
        chunk = image[start : start + 256]
        clean = (latents[schedule.codes[chunk] - 1] @ model.weights).reshape(-1, n_ch, n_t)
        for j, trial in enumerate(chunk):
            onset = schedule.onsets[trial]
            eeg[:, onset : onset + n_t] += gains[start + j] * clean[j]
    eeg *= VOLTS_PER_UNIT
    stim = data[-1]
    stim[:] = 0.0
    for onset, code in zip(schedule.onsets, schedule.codes, strict=True):
        stim[onset : onset + STIM_SAMPLES] = code
    return data


def raw_payload(data: np.ndarray) -> dict[str, Any]:
    """The release's dict around a recording; the data is streamed row by row when written."""
    n_ch = data.shape[0] - 1

    def rows() -> Any:
        for start in range(0, data.shape[0], 4):
            yield data[start : start + 4]

    return {
        RAW_DATA_KEY: LazyArray(data.shape, np.float64, rows),
        RAW_CH_NAMES_KEY: [*RAW_EEG_CHANNELS[:n_ch], RAW_STIM_CHANNEL],
        RAW_CH_TYPES_KEY: ["eeg"] * n_ch + ["stim"],
        RAW_SFREQ_KEY: RAW_SFREQ,
        "highpass": HIGHPASS_HZ,
        "lowpass": LOWPASS_HZ,
    }


def write_raw_file(path: Path, data: np.ndarray) -> None:
    """``np.save`` of the release dict, written atomically, the data never copied whole."""
    payload = raw_payload(data)

    def write(tmp: Path) -> None:
        with open(tmp, "wb", buffering=1 << 20) as fh:
            dump_npy_object(payload, fh)

    atomic_write(path, write)


def raw_files(subject: int) -> list[str]:
    """A subject's raw files relative to the raw folder."""
    return [
        f"{subject_folder(subject)}/{session_folder(s)}/{name}"
        for s in range(1, RAW_SESSIONS + 1)
        for name in RAW_FILES.values()
    ]


def write_raw_subject(
    raw_dir: Path,
    subject: int,
    latents: dict[str, np.ndarray],
    params: GenerativeParams,
    seed: int,
    sessions: list[int] | None = None,
) -> list[Path]:
    """Write a subject's raw sessions (default all four) under ``raw_dir``; returns the paths."""
    model = SubjectModel(params, seed, subject, raw_format())
    held = train_sessions(len(latents["train"]), seed, subject)
    n_test = len(latents["test"])
    written = []
    for session in sessions or range(1, RAW_SESSIONS + 1):
        for split_id, split in enumerate(("train", "test")):
            conditions = held[session - 1] if split == "train" else np.arange(1, n_test + 1)
            rng = stream_rng(seed, Stream.RAW, subject, 4, session, split_id)
            schedule = make_schedule(conditions, RAW_REPS_PER_SESSION[split], rng)
            data = raw_recording(model, latents[split], schedule, (session, split_id))
            path = Path(raw_dir) / subject_folder(subject) / session_folder(session)
            path = path / RAW_FILES[split]
            write_raw_file(path, data)
            del data
            written.append(path)
    return written
