"""One full-size raw session through `study preprocess`'s pipeline vs the official script's steps.

Writes one synthetic raw session at real size (``study synth --raw``'s generator: the training
file holds 16540 image trials plus targets at a 200-230 ms SOA, about 64 x 3.7M float64 samples,
1.9 GB; the test file 4000 trials) into a temporary folder (``--tmp``, default the system temp
dir), then processes it twice, each in its own fresh Python process so that each peak is its own:

- ours: ``read_raw_session`` (data memory-mapped), events checked, ``process_session`` (the 17
  posterior rows copied, epochs in chunks, batched Ledoit-Wolf MVNN);
- official: the script's steps, straightforwardly: ``np.load(allow_pickle=True)``, a 64-row
  ``RawArray``, ``find_events``, ``pick``, one ``Epochs`` over all events preloaded,
  ``resample``, ``sklearn.utils.shuffle`` per condition, sklearn's ``_cov`` per repetition,
  ``fractional_matrix_power``, whitening.

Both use MVNN 'epochs' with the train+test covariance (the official default) so the outputs can be
compared: the largest difference is printed. Reported per process: wall seconds, peak resident
memory (``ru_maxrss``: includes the file pages a memory map touched) and the peak of Python/numpy
allocations (``tracemalloc``: not MNE's or the FFT's C buffers). ``--fraction F`` writes a
session with F of the real trial count (for a machine that cannot hold 1.9 GB twice).
Run: ``uv run python tests/benchmarks/bench_preprocess.py [--tmp DIR] [--fraction 1.0]``
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST, LATENT = 16540, 200, 32
SEED = 20200220


def generate(raw_dir: Path, fraction: float) -> dict[str, float]:
    from study.synthetic.params import GenerativeParams, stream_rng
    from study.synthetic.raw import write_raw_subject

    rng = stream_rng(0, 1234)
    n_train = max(4, int(round(N_TRAIN * fraction)))
    latents = {
        "train": rng.standard_normal((n_train, LATENT)),
        "test": rng.standard_normal((N_TEST, LATENT)),
    }
    start = time.perf_counter()
    paths = write_raw_subject(raw_dir, 1, latents, GenerativeParams(), seed=0, sessions=[1])
    return {
        "seconds": time.perf_counter() - start,
        **{p.name: p.stat().st_size / 1e9 for p in paths},
    }


def ours(raw_dir: Path, out: Path) -> None:
    from trainables.things_eeg2.preprocess import (
        PreprocessSettings,
        find_session_events,
        image_events,
        process_session,
    )
    from trainables.things_eeg2.raw import raw_file, read_raw_session

    settings = PreprocessSettings(mvnn_covariance="train+test", seed=SEED)
    sessions = {s: read_raw_session(raw_file(raw_dir, 1, 1, s)) for s in ("test", "train")}
    events = {s: image_events(r, find_session_events(r), s, settings) for s, r in sessions.items()}
    result = process_session(sessions, events, settings)
    for split in ("test", "train"):
        np.save(out / f"ours_{split}.npy", result.data[split])


def official(raw_dir: Path, out: Path) -> None:
    import mne
    from scipy.linalg import fractional_matrix_power
    from sklearn.discriminant_analysis import _cov
    from sklearn.utils import shuffle

    parts = {}
    for split, name, max_rep in (("test", "test", 20), ("train", "training", 2)):
        d = np.load(raw_dir / "sub-01" / "ses-01" / f"raw_eeg_{name}.npy", allow_pickle=True)
        d = d.item()
        info = mne.create_info(d["ch_names"], d["sfreq"], d["ch_types"])
        raw = mne.io.RawArray(d["raw_eeg_data"], info, verbose=False)
        del d
        events = mne.find_events(raw, stim_channel="stim", verbose=False)
        idx = mne.pick_channels_regexp(raw.info["ch_names"], "^O *|^P *")
        raw.pick([raw.info["ch_names"][c] for c in idx])
        events = np.delete(events, np.where(events[:, 2] == 99999)[0], 0)
        epochs = mne.Epochs(
            raw, events, tmin=-0.2, tmax=0.8, baseline=(None, 0), preload=True, verbose=False
        )
        del raw
        epochs.resample(100, verbose=False)
        data, codes = epochs.get_data(), epochs.events[:, 2]
        del epochs
        conditions = np.unique(codes)
        sorted_data = np.zeros((len(conditions), max_rep, data.shape[1], data.shape[2]))
        for i, c in enumerate(conditions):
            sel = shuffle(np.where(codes == c)[0], random_state=SEED, n_samples=max_rep)
            sorted_data[i] = data[sel]
        del data
        parts[split] = sorted_data
    sigma = np.mean(
        [np.mean([np.mean([_cov(rep.T, shrinkage="auto") for rep in cond], 0)
                  for cond in parts[split]], 0)
         for split in ("test", "train")],
        0,
    )  # fmt: skip
    inv = fractional_matrix_power(sigma, -0.5)
    for split, x in parts.items():
        flat = x.reshape(-1, x.shape[2], x.shape[3])
        white = (flat.swapaxes(1, 2) @ inv).swapaxes(1, 2).reshape(x.shape)
        np.save(out / f"official_{split}.npy", white)


def child(which: str, raw_dir: Path, out: Path) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    (ours if which == "ours" else official)(raw_dir, out)
    seconds = time.perf_counter() - start
    peak_py = tracemalloc.get_traced_memory()[1]
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_gb": rss_kb / 1e6, "traced_gb": peak_py / 1e9}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmp", type=Path, default=None, help="scratch folder (deleted)")
    parser.add_argument("--fraction", type=float, default=1.0, help="of the real trial count")
    parser.add_argument(
        "--only", choices=("ours", "official"), help="run one pipeline (no output comparison)"
    )
    parser.add_argument("--child", choices=("ours", "official"), help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.raw, args.out)
        return
    scratch = Path(tempfile.mkdtemp(prefix="bench_preprocess_", dir=args.tmp))
    try:
        raw_dir = scratch / "raw"
        made = generate(raw_dir, args.fraction)
        print(f"generated one raw session in {made['seconds']:.1f}s: " + ", ".join(
            f"{k} {v:.2f} GB" for k, v in made.items() if k != "seconds"))  # fmt: skip
        rows = {}
        for which in [args.only] if args.only else ("ours", "official"):
            run = subprocess.run(
                [sys.executable, __file__, "--child", which, "--raw", str(raw_dir),
                 "--out", str(scratch)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows[which] = json.loads(run.stdout.strip().splitlines()[-1])
        diffs = []
        for split in () if args.only else ("test", "train"):
            a = np.load(scratch / f"ours_{split}.npy")
            b = np.load(scratch / f"official_{split}.npy")
            assert a.shape == b.shape, (a.shape, b.shape)
            diffs.append(float(np.abs(a - b).max() / np.abs(b).max()))
            shape = a.shape
        if diffs:
            print(f"output train {shape}; max |ours - official| / max|official| = {max(diffs):.1e}")
        print("| pipeline | seconds | peak RSS (GB) | peak traced numpy/Python (GB) |")
        print("|---|---|---|---|")
        for which, row in rows.items():
            print(f"| {which} | {row['seconds']:.1f} | {row['rss_gb']:.2f} | "
                  f"{row['traced_gb']:.2f} |")  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
