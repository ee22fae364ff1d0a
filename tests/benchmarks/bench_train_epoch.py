"""Training throughput per encoder: this loop vs a Dataset/DataLoader loop of the same module.

Run: uv run python tests/benchmarks/bench_train_epoch.py [--encoder auto|all|NAME[,NAME...]]
     [--images 16540] [--batch 256] [--epochs 4] [--channels 17 --times 100 --sfreq 100]

For each encoder, in one run: samples/s of the project's training loop (``train``: tensors on
the device, index-slice batches; the median of the epochs after the first, which builds the
model and makes the first calls) and of a Dataset + DataLoader loop over the same module with
the same optimiser (one epoch after one untimed step), then a table of both and their ratio.
The NICE encoders (and ATM-S's NICE block) run their fused path in the loop and the plain layer
stack in the DataLoader loop (``fused=False``); the other encoders are the same module in both.

For a single NICE encoder (the default ``auto`` picks it from ``--sfreq``) it also prints the
model FLOPs per epoch (FlopCounterMode) and their rate against this machine's fp32 matmul
throughput (2048^2), measured between the epochs of the same run so that a noisy machine slows
both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from tests.benchmarks.matmul_rate import matmul_gflops
from trainables.models.fused_ops import window_moments
from trainables.models.head import build_model
from trainables.models.loss import info_nce
from trainables.models.registry import ENCODERS, resolve_variant
from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit
from trainables.training.config import TrainConfig
from trainables.training.loop import train
from trainables.training.schedules import build_optimization

NICE = ("nice", "nice_100hz")


class PairDataset(Dataset):
    def __init__(self, eeg: np.ndarray, embeddings: np.ndarray) -> None:
        self.eeg, self.embeddings = eeg, embeddings

    def __len__(self) -> int:
        return len(self.eeg)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.eeg[i]), torch.from_numpy(self.embeddings[i])


@dataclass
class Row:
    encoder: str
    shape: str
    params: int
    loop: float  # samples/s
    reference: float | None  # samples/s


def reference_epoch(config: TrainConfig, eeg: np.ndarray, emb: np.ndarray, sfreq: float) -> float:
    """Samples/s of one epoch of a Dataset/DataLoader loop (plain layer stack for NICE)."""
    torch.manual_seed(0)
    model = build_model(
        config.model,
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
    return len(eeg) / (time.perf_counter() - start)


def step_flops(config: TrainConfig, channels: int, times: int, dim: int, sfreq: float) -> int:
    """FLOPs of one training step (forward + backward) of the fused NICE model at the batch size.

    Counted on the meta device, where the model takes its device-independent path (no CPU-only
    ones-column bias tap), without the float64 Gram matrix of the first BatchNorm's moments.
    """
    with torch.device("meta"):
        model = build_model(
            config.model, n_channels=channels, n_times=times, sfreq=sfreq, embedding_dim=dim
        )
        x, e = torch.randn(config.batch_size, channels, times), torch.randn(config.batch_size, dim)
    with FlopCounterMode(display=False) as counter:
        z_eeg, z_img = model(x, e)
        info_nce(z_eeg, z_img, model.logit_scale).backward()
    kernel, _, stride = model.encoder.composed_front()
    with FlopCounterMode(display=False) as moments:
        window_moments(x, kernel.shape[1], stride)
    return counter.get_total_flops() - moments.get_total_flops()


def bench(
    name: str, args: argparse.Namespace, eeg: np.ndarray, emb: np.ndarray, flops: bool
) -> Row:
    config = TrainConfig(
        model=name, epochs=args.epochs, batch_size=args.batch, device="cpu", compile=args.compile
    )
    data = DecodingData(
        EvalSplit(eeg[None], emb, [1]), None, None, "random", args.sfreq, ["x"] * args.channels
    )
    stamps: list[float] = []
    peaks: list[float] = []

    def between_epochs(metrics: dict[str, float], checkpoint: object) -> None:
        stamps.append(time.perf_counter())
        if flops:
            peaks.append(matmul_gflops())
        stamps.append(time.perf_counter())

    train(config, data, report=between_epochs)
    epochs = [stamps[2 * k] - stamps[2 * k - 1] for k in range(1, args.epochs)]
    fast = statistics.median(epochs)
    steps = args.images // args.batch
    if flops:
        peak = statistics.median(peaks)
        total = step_flops(config, args.channels, args.times, args.dim, args.sfreq) * steps
        rate = total / fast / 1e9
        ratios = [total / t / 1e9 / p for t, p in zip(epochs, peaks[1:], strict=True)]
        print(f"fp32 matmul 2048^2 between epochs: {peak:.1f} GFLOP/s (median of {len(peaks)})")
        print(
            f"this loop: {fast:.2f} s/epoch ({steps} steps of {args.batch}, median of later epochs)"
        )
        print(
            f"model FLOPs/epoch {total / 1e9:.1f} G -> {rate:.1f} GFLOP/s = {rate / peak:.0%} of "
            f"matmul (epoch by epoch against the rate measured after it: "
            f"{', '.join(f'{r:.0%}' for r in ratios)})"
        )
    torch.manual_seed(0)
    model = build_model(
        name,
        n_channels=args.channels,
        n_times=args.times,
        sfreq=args.sfreq,
        embedding_dim=args.dim,
    )
    params = sum(p.numel() for p in model.encoder.parameters())
    reference = None if args.skip_reference else reference_epoch(config, eeg, emb, args.sfreq)
    if flops and reference is not None:
        seconds = args.images / reference
        print(f"reference loop (Dataset+DataLoader, plain stack): {seconds:.2f} s/epoch")
    return Row(name, f"{args.channels}x{args.times}", params, steps * args.batch / fast, reference)


def table(rows: list[Row]) -> str:
    lines = [
        "| encoder | shape | params | loop samples/s | DataLoader samples/s | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        ref = f"{row.reference:,.0f}" if row.reference else "-"
        ratio = f"{row.loop / row.reference:.1f}x" if row.reference else "-"
        lines.append(
            f"| {row.encoder} | {row.shape} | {row.params:,} | {row.loop:,.0f} | {ref} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--encoder",
        default="auto",
        help=f"auto, all, or a comma-separated list of {', '.join(ENCODERS)}",
    )
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
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first is not timed)")
    if args.encoder == "all":
        names = list(ENCODERS)
    else:
        names = [resolve_variant(n.strip(), args.sfreq) for n in args.encoder.split(",")]
    rng = np.random.default_rng(0)
    eeg = rng.standard_normal((args.images, args.channels, args.times), dtype=np.float32)
    emb = rng.standard_normal((args.images, args.dim), dtype=np.float32)
    print(f"threads {torch.get_num_threads()}")
    rows = []
    for name in names:
        rows.append(bench(name, args, eeg, emb, flops=len(names) == 1 and name in NICE))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
