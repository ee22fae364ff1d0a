"""Time loading a full-scale format-A training file cold (parse the pickle) vs from the cache.

Writes a random (16540, 4, 17, 100) float64 file (about 900 MB) as the OSF release does into a
temporary folder (``--tmp``, default the system temp dir, never the repository), then times:

- cold: ``load_prepared`` on an empty cache (restricted unpickling, validation, averaging over
  repetitions, writing the float32 cache);
- cached: ``load_prepared`` on the valid cache plus reading the whole averaged array into memory.

The source was just written, so it is in the page cache: "cold" measures parsing, not disk reads.
The temporary folder is deleted at the end.
Run: ``.venv/bin/python tests/benchmarks/bench_cache_load.py``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from trainables.things_eeg2.eeg_files import read_eeg_file
from trainables.things_eeg2.prepared_cache import load_prepared

SHAPE = (16540, 4, 17, 100)


def write_source(path: Path) -> None:
    """A full-size format-A file: np.save of a dict holding random float64 EEG."""
    rng = np.random.default_rng(0)
    content = {
        "preprocessed_eeg_data": rng.standard_normal(SHAPE),
        "ch_names": [f"E{i}" for i in range(SHAPE[2])],
        "times": -0.2 + np.arange(SHAPE[3]) / 100,
    }
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fh:
        np.save(fh, np.array(content, dtype=object), allow_pickle=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cache-", dir=args.tmp))
    try:
        source = work / "sub-01" / "preprocessed_eeg_training.npy"
        write_source(source)
        print(f"source: {source} ({source.stat().st_size / 1e6:.0f} MB, shape {SHAPE})")
        start = time.perf_counter()
        read_eeg_file(source)
        parse_s = time.perf_counter() - start
        start = time.perf_counter()
        cold = load_prepared(source, work / "cache")
        cold_s = time.perf_counter() - start
        assert cold.built
        start = time.perf_counter()
        cached = load_prepared(source, work / "cache")
        mean = np.array(cached.mean)
        cached_s = time.perf_counter() - start
        assert not cached.built and mean.shape == (SHAPE[0], SHAPE[2], SHAPE[3])
        print(f"parse only (restricted unpickle + validate): {parse_s:.2f} s")
        print(f"cold (parse + validate + average + write cache): {cold_s:.2f} s")
        print(
            f"cached (memory-map + read {mean.nbytes / 1e6:.0f} MB into memory): {cached_s:.3f} s"
        )
        print(f"ratio cold / cached: {cold_s / cached_s:.0f}x")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
