"""Input variants: the decimation methods side by side, and the cost of k-of-n repetition draws.

1. Decimation by 2 of 100-sample epochs at 100 Hz (the OSF release's axis): band-limited random
   signals (8 sines of 0.5-20 Hz, below the new 25 Hz Nyquist) against their exact samples at
   50 Hz - RMS error on the first/last 3 output samples and inside; the RMS left of a 40 Hz sine
   (above the new Nyquist: should be removed, plain subsampling aliases it to 10 Hz); seconds
   (and over all samples); seconds for ``--rows`` rows, as a ratio to ours. Ours:
   mne.filter.resample with its defaults, applied as the linear operator it is (its matrix, from
   MNE run on the unit impulses).
2. One epoch's k-of-n draw (``RepetitionSampler.epoch_eeg``) vs one training epoch of the default
   model on the same pairs (17 x 100, ``--pairs`` pairs, 4 repetitions, eager), on the CPU.
Run: ``uv run python tests/benchmarks/bench_inputs.py [--rows 20000] [--pairs 2048]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import mne
import numpy as np
import scipy.signal as ss
import torch

from tests.helpers.toy_data import toy_data
from trainables.things_eeg2.inputs import InputSpec, apply_inputs, resolve_inputs
from trainables.training.config import TrainConfig
from trainables.training.loop import train
from trainables.training.repetitions import RepetitionSampler

TIMES = -0.2 + np.arange(100) / 100
Method = Callable[[np.ndarray], np.ndarray]


def methods() -> dict[str, Method]:
    ours = resolve_inputs(InputSpec(decimate=2), ["Oz"], TIMES, 100.0)
    return {
        "ours: mne.filter.resample fft (its defaults), as its matrix": lambda a: apply_inputs(
            a[:, None], ours
        )[:, 0],
        "mne.filter.resample fft (its defaults), called directly": lambda a: mne.filter.resample(
            a, down=2
        ),
        "mne.filter.resample fft, pad=edge npad=auto (as Epochs.resample)": lambda a: (
            mne.filter.resample(a, down=2, npad="auto", pad="edge")
        ),
        "mne.filter.resample polyphase": lambda a: mne.filter.resample(
            a, down=2, method="polyphase"
        ),
        "scipy.signal.decimate fir, zero_phase": lambda a: ss.decimate(a, 2, ftype="fir"),
        "scipy.signal.resample_poly, padtype=line": lambda a: ss.resample_poly(
            a, 1, 2, axis=-1, padtype="line"
        ),
        "plain subsampling x[::2]": lambda a: a[:, ::2],
    }


def decimation_table(rows: int) -> None:
    rng = np.random.default_rng(0)
    freqs = rng.uniform(0.5, 20, size=(2000, 8, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(2000, 8, 1))
    signals = np.sin(2 * np.pi * freqs * TIMES + phases).sum(1) / np.sqrt(8)
    truth = signals[:, ::2]
    fast = np.sin(2 * np.pi * 40.0 * TIMES)[None]
    big = rng.standard_normal((rows, 100))
    print(
        "| method | edge RMS error | interior RMS error | all samples | 40 Hz left (RMS) "
        "| seconds | x ours |"
    )
    print("|---|---|---|---|---|---|---|")
    ours_s = None
    for name, method in methods().items():
        err = method(signals) - truth
        edge = np.sqrt(np.mean(np.concatenate([err[:, :3], err[:, -3:]], 1) ** 2))
        inner = np.sqrt(np.mean(err[:, 5:-5] ** 2))
        overall = np.sqrt(np.mean(err**2))
        alias = np.sqrt(np.mean(method(fast)[:, 5:-5] ** 2))
        start = time.perf_counter()
        method(big)
        seconds = time.perf_counter() - start
        ours_s = ours_s or seconds
        print(
            f"| {name} | {edge:.4f} | {inner:.4f} | {overall:.4f} | {alias:.4f} | {seconds:.2f} | "
            f"{seconds / ours_s:.1f} |"
        )


def draw_cost(pairs: int) -> None:
    data = toy_data(n_train=pairs, n_val=0, n_subjects=1)
    reps = torch.from_numpy(np.repeat(data.train.eeg[:, :, None], 4, axis=2))
    sampler = RepetitionSampler(reps, 1, seed=0)
    start = time.perf_counter()
    for epoch in range(5):
        sampler.epoch_eeg(epoch)
    draw_s = (time.perf_counter() - start) / 5
    config = TrainConfig(
        epochs=3, warmup_encoder=1, warmup_projector=1, device="cpu", compile=False
    )
    stamps: list[float] = []
    train(config, data, report=lambda metrics, checkpoint: stamps.append(time.perf_counter()))
    epoch_s = min(np.diff(stamps))  # an epoch after the first (no start-up in it)
    print(
        f"{pairs} pairs x 4 repetitions, 17 x 100: one draw (k=1) {draw_s * 1000:.1f} ms, "
        f"one training epoch {epoch_s:.2f} s: the draw is {100 * draw_s / epoch_s:.2f}% of it"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="rows timed per method")
    parser.add_argument("--pairs", type=int, default=2048, help="training pairs of part 2")
    args = parser.parse_args()
    mne.set_log_level("ERROR")
    decimation_table(args.rows)
    draw_cost(args.pairs)


if __name__ == "__main__":
    main()
