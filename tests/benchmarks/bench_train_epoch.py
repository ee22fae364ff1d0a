"""One training epoch: this loop vs a usual Dataset/DataLoader loop of the plain layer stack.

Run: .venv/bin/python tests/benchmarks/bench_train_epoch.py [--images 16540] [--batch 256]
Prints epoch seconds for both, the speedup, model FLOPs per epoch (FlopCounterMode) and their
rate against this machine's fp32 matmul throughput (2048^2), measured between the epochs of the
same run so that a noisy machine slows both alike. Epoch 1 (model build, first calls) is not timed;
the median of the later epochs is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from tests.benchmarks.matmul_rate import matmul_gflops
from trainables.models.fused_ops import window_moments
from trainables.models.head import build_model
from trainables.models.loss import info_nce
from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit
from trainables.training.config import TrainConfig
from trainables.training.loop import train
from trainables.training.schedules import build_optimization


class PairDataset(Dataset):
    def __init__(self, eeg: np.ndarray, embeddings: np.ndarray) -> None:
        self.eeg, self.embeddings = eeg, embeddings

    def __len__(self) -> int:
        return len(self.eeg)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.eeg[i]), torch.from_numpy(self.embeddings[i])


def reference_epoch(config: TrainConfig, eeg: np.ndarray, emb: np.ndarray, sfreq: float) -> float:
    torch.manual_seed(0)
    model = build_model(
        "auto",
        n_channels=eeg.shape[1],
        n_times=eeg.shape[2],
        sfreq=sfreq,
        embedding_dim=emb.shape[1],
        fused=False,
    )
    optimizer, _ = build_optimization(model, config)
    loader = DataLoader(PairDataset(eeg, emb), batch_size=config.batch_size, shuffle=True)
    model.train()
    x, e = next(iter(loader))
    info_nce(*model(x, e), model.logit_scale).backward()  # warm-up step, not timed
    start = time.perf_counter()
    for x, e in loader:
        z_eeg, z_img = model(x, e)
        loss = info_nce(z_eeg, z_img, model.logit_scale)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def step_flops(config: TrainConfig, channels: int, times: int, dim: int, sfreq: float) -> int:
    """FLOPs of one training step (forward + backward) of the fused model at the batch size.

    Counted on the meta device, where the model takes its device-independent path (no CPU-only
    ones-column bias tap), without the float64 Gram matrix of the first BatchNorm's moments.
    """
    with torch.device("meta"):
        model = build_model(
            "auto", n_channels=channels, n_times=times, sfreq=sfreq, embedding_dim=dim
        )
        x, e = torch.randn(config.batch_size, channels, times), torch.randn(config.batch_size, dim)
    with FlopCounterMode(display=False) as counter:
        z_eeg, z_img = model(x, e)
        info_nce(z_eeg, z_img, model.logit_scale).backward()
    kernel, _, stride = model.encoder.composed_front()
    with FlopCounterMode(display=False) as moments:
        window_moments(x, kernel.shape[1], stride)
    return counter.get_total_flops() - moments.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=16540)
    parser.add_argument("--channels", type=int, default=17)
    parser.add_argument("--times", type=int, default=100)
    parser.add_argument("--sfreq", type=float, default=100.0)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--batch", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--epochs", type=int, default=4, help="timed: all but the first")
    parser.add_argument("--compile", action="store_true", help="train with torch.compile")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    eeg = rng.standard_normal((args.images, args.channels, args.times), dtype=np.float32)
    emb = rng.standard_normal((args.images, args.dim), dtype=np.float32)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch, device="cpu", compile=args.compile
    )
    data = DecodingData(
        EvalSplit(eeg[None], emb, [1]), None, None, "random", args.sfreq, ["x"] * args.channels
    )
    print(f"threads {torch.get_num_threads()}")
    stamps: list[float] = []
    peaks: list[float] = []

    def between_epochs(metrics: dict[str, float], checkpoint: object) -> None:
        stamps.append(time.perf_counter())
        peaks.append(matmul_gflops())
        stamps.append(time.perf_counter())

    train(config, data, report=between_epochs)
    epochs = [stamps[2 * k] - stamps[2 * k - 1] for k in range(1, args.epochs)]
    fast, peak = statistics.median(epochs), statistics.median(peaks)
    steps = args.images // args.batch
    flops = step_flops(config, args.channels, args.times, args.dim, args.sfreq) * steps
    rate = flops / fast / 1e9
    ratios = [flops / t / 1e9 / p for t, p in zip(epochs, peaks[1:], strict=True)]
    print(f"fp32 matmul 2048^2 between epochs: {peak:.1f} GFLOP/s (median of {len(peaks)})")
    print(f"this loop: {fast:.2f} s/epoch ({steps} steps of {args.batch}, median of later epochs)")
    print(
        f"model FLOPs/epoch {flops / 1e9:.1f} G -> {rate:.1f} GFLOP/s = {rate / peak:.0%} of matmul"
        f" (epoch by epoch against the rate measured after it: "
        f"{', '.join(f'{r:.0%}' for r in ratios)})"
    )
    if not args.skip_reference:
        ref = reference_epoch(config, eeg, emb, args.sfreq)
        print(f"reference loop (Dataset+DataLoader, plain stack): {ref:.2f} s/epoch")
        print(f"speedup {ref / fast:.1f}x")


if __name__ == "__main__":
    main()
