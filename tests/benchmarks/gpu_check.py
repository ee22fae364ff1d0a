"""GPU readiness in one table: what a sweep on CUDA relies on, measured on one device.

1. fused vs plain NICE (63 x 250): outputs and gradients equal in fp32, within tolerance under
   bf16 autocast;
2. a 100-epoch single-subject training at full scale (random arrays of the real shape: 14,890
   training and 1,650 validation images, 63 channels x 250 samples, 768-dim embeddings) with bf16
   autocast: seconds per epoch and in all;
3. learning on the small synthetic twin with bf16 autocast (best validation top-1 vs chance);
4. concurrent fractional trials per GPU: 1, 2, 4, ... processes training at once on the device
   (as Ray trials with gpus_per_trial = 1/k are), samples/s per trial against one alone, up to the
   first count where it falls below half;
5. `study embed` images/s batched vs the paper's per-image loop (random-weight backbone).

Run (one CUDA device, under 8 minutes):
    uv run python tests/benchmarks/gpu_check.py
Tiny sizes on the CPU, every step taken (what tests/integration/test_gpu_check.py runs):
    uv run python tests/benchmarks/gpu_check.py --dry-run
Exits 1 when a check fails (a dry run only checks that every step runs).
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import queue
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.toy_data import toy_data  # noqa: E402
from trainables.models.registry import build_encoder  # noqa: E402
from trainables.models.spec import EncoderSpec  # noqa: E402
from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit  # noqa: E402
from trainables.training.config import TrainConfig  # noqa: E402
from trainables.training.loop import train  # noqa: E402

BACKBONE = "aligned_synclr"
FP32_TOLERANCE = 1e-4  # relative, with TF32 off
BF16_TOLERANCE = 5e-2  # relative error of bf16 autocast outputs against fp32
LEARNS = 3.0  # best val top-1 at least this many times chance


@dataclass(frozen=True)
class Sizes:
    n_train: int = 14_890
    n_val: int = 1_650
    channels: int = 63
    times: int = 250
    dim: int = 768
    epochs: int = 100
    twin_scale: str = "small"
    twin_epochs: int = 30
    share_epochs: int = 4
    max_trials: int = 16
    images: int = 256
    batch_size: int = 64


DRY = Sizes(
    n_train=384, n_val=64, channels=17, times=100, dim=24, epochs=2, twin_scale="tiny",
    twin_epochs=2, share_epochs=2, max_trials=2, images=4, batch_size=2,
)  # fmt: skip


@dataclass
class Row:
    check: str
    result: str
    ok: bool


def relative(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """||a - b|| / ||b|| over all the tensors together (a near-zero gradient, such as a bias
    that BatchNorm cancels, is compared at the scale of the others)."""
    diff = sum(
        float((x.detach().float() - y.detach().float()).square().sum())
        for x, y in zip(a, b, strict=True)
    )
    norm = sum(float(y.detach().float().square().sum()) for y in b)
    return (diff / max(norm, 1e-30)) ** 0.5


def fused_vs_plain(device: torch.device, sizes: Sizes) -> list[Row]:
    """The fused NICE forward/backward against the plain layer stack, fp32 and bf16 autocast."""
    torch.manual_seed(0)
    spec = EncoderSpec("nice", sizes.channels, sizes.times, dropout=0.0)
    fused = build_encoder(spec, fused=True).to(device).train()
    plain = copy.deepcopy(fused)
    plain.fused = False
    x = torch.randn(256, sizes.channels, sizes.times, device=device)

    def run(model: torch.nn.Module, bf16: bool) -> list[torch.Tensor]:
        context = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
        with context:
            out = model(x)
        grads = torch.autograd.grad(out.float().square().mean(), list(model.parameters()))
        return [out, *grads]

    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:  # equality in true fp32 (training itself runs with the defaults)
        reference = run(plain, bf16=False)
        mine = run(fused, bf16=False)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    out, grads = relative(mine[:1], reference[:1]), relative(mine[1:], reference[1:])
    bf16 = relative(run(fused, bf16=True)[:1], reference[:1])
    return [
        Row("fused = plain NICE, fp32",
            f"rel. diff outputs {out:.1e}, gradients {grads:.1e} (TF32 off)",
            max(out, grads) <= FP32_TOLERANCE),
        Row("fused NICE, bf16 autocast vs fp32", f"rel. diff outputs {bf16:.1e}",
            bf16 <= BF16_TOLERANCE),
    ]  # fmt: skip


def full_scale_data(sizes: Sizes) -> DecodingData:
    """Random arrays of one full-scale subject's shape (planted structure: it can learn)."""
    return toy_data(
        n_train=sizes.n_train, n_val=sizes.n_val, n_subjects=1, channels=sizes.channels,
        times=sizes.times, dim=sizes.dim, sfreq=250.0,
    )  # fmt: skip


def config(device: torch.device, epochs: int, **extra: object) -> TrainConfig:
    return TrainConfig.from_dict(
        {"epochs": epochs, "device": device.type, "bf16": True, "seed": 0, **extra}
    )


def full_scale_training(device: torch.device, sizes: Sizes, data: DecodingData) -> Row:
    start = time.perf_counter()
    result = train(config(device, sizes.epochs, model="nice"), data)
    seconds = time.perf_counter() - start
    per_epoch = seconds / sizes.epochs
    rate = sizes.n_train / per_epoch
    return Row(
        f"{sizes.epochs} epochs, one subject {sizes.n_train}x{sizes.channels}x{sizes.times}, bf16",
        f"{seconds:.0f} s ({per_epoch:.2f} s/epoch, {rate:,.0f} samples/s); "
        f"val top-1 {result.final['val_top1']:.3f}",
        all(np.isfinite(list(result.final.values()))),
    )


def twin_learning(device: torch.device, sizes: Sizes, root: Path) -> Row:
    from study.synthetic import SynthConfig, write_dataset
    from trainables.things_eeg2.layout import find_layout
    from trainables.things_eeg2.loader import load_decoding_data

    twin = write_dataset(
        SynthConfig(
            out=root / "twin", scale=sizes.twin_scale, subjects=[1], images=False,
            backbones=[BACKBONE],
        )
    )  # fmt: skip
    data = load_decoding_data(find_layout(twin), BACKBONE, [1], cache_dir=root / "cache")
    history = train(config(device, sizes.twin_epochs), data).history
    best = max(h["val_top1"] for h in history)
    chance = history[-1]["val_chance_top1"]
    return Row(
        f"learning on the {sizes.twin_scale} twin, bf16, {sizes.twin_epochs} epochs",
        f"best val top-1 {best:.3f} = {best / chance:.1f}x chance",
        best >= LEARNS * chance,
    )


def _trial(device: str, arrays: dict[str, str], epochs: int, barrier: object, out: object) -> None:
    """One fractional trial: its own process and CUDA context, as a Ray trial has."""
    split = {k: np.load(v, mmap_mode="r") for k, v in arrays.items()}
    data = DecodingData(
        train=EvalSplit(split["train_eeg"], split["train_emb"], [1]),
        val=EvalSplit(split["val_eeg"], split["val_emb"], [1]),
        test=None,
        backbone="random",
        sfreq=250.0,
        channels=[f"E{i}" for i in range(split["train_eeg"].shape[2])],
    )
    marks: list[float] = []
    barrier.wait()  # type: ignore[attr-defined]
    train(
        config(torch.device(device), epochs, model="nice", checkpoint_every=1000),
        data,
        report=lambda metrics, checkpoint: marks.append(time.perf_counter()),
    )
    n_train = split["train_eeg"].shape[1]
    seconds = marks[-1] - marks[0]  # the epochs after the first (start-up excluded)
    out.put(n_train * (len(marks) - 1) / seconds)  # type: ignore[attr-defined]


def _collect(out: Any, procs: list[Any]) -> list[float]:
    """Each trial process's samples/s; a RuntimeError as soon as one dies without a result."""
    results: list[float] = []
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=5))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a trial process failed (exit codes {dead})") from None
    for p in procs:
        p.join()
    return results


def trials_per_device(device: torch.device, sizes: Sizes, data: DecodingData, root: Path) -> Row:
    arrays = {}
    for name in ("train", "val"):
        split = getattr(data, name)
        for part, array in (("eeg", split.eeg), ("emb", split.embeddings)):
            arrays[f"{name}_{part}"] = str(root / f"{name}_{part}.npy")
            np.save(arrays[f"{name}_{part}"], array)
    context = multiprocessing.get_context("spawn")
    rates: dict[int, float] = {}
    count = 1
    while count <= sizes.max_trials:
        barrier, out = context.Barrier(count), context.Queue()
        args = (device.type, arrays, sizes.share_epochs, barrier, out)
        procs = [context.Process(target=_trial, args=args) for _ in range(count)]
        for p in procs:
            p.start()
        per_trial = _collect(out, procs)
        rates[count] = min(per_trial)
        if rates[count] < rates[1] / 2:
            break
        count *= 2
    fits = max(k for k, r in rates.items() if r >= rates[1] / 2)
    table = ", ".join(f"{k}: {r:,.0f}" for k, r in rates.items())
    return Row(
        "concurrent trials per device (same subject)",
        f"{fits} before per-trial samples/s halves ({table})",
        True,
    )


def embed_rate(device: torch.device, sizes: Sizes, root: Path) -> Row:
    from tests.benchmarks import bench_embed
    from tests.helpers.model_fixtures import write_random_models
    from trainables.embedding import embed as image_embedding
    from trainables.embedding.backbones import get_backbone, load_backbone
    from trainables.embedding.embed import EmbedSettings, embed_backbone

    backbone = get_backbone(BACKBONE)
    models = write_random_models(root / "models", backbone.dreamsim_type.name)
    n_test = max(1, sizes.images // 8)
    lists = bench_embed.write_images(root / "images", sizes.images - n_test, n_test)
    paths = [root / "images" / r for r in lists["train"] + lists["test"]]
    _, t_loop, _ = bench_embed.per_image_loop(models, BACKBONE, paths, device.type)
    model = load_backbone(backbone, models, device.type)
    real = image_embedding.load_backbone
    image_embedding.load_backbone = lambda *a, **k: model  # time embedding, not loading
    try:
        settings = EmbedSettings(device=device.type, batch_size=sizes.batch_size, workers=2)
        start = time.perf_counter()
        embed_backbone(backbone, models, root / "images", lists, root / "emb", settings)
        t_batched = time.perf_counter() - start
    finally:
        image_embedding.load_backbone = real
    n = sizes.images
    return Row(
        "study embed images/s, batched vs per-image",
        f"{n / t_batched:,.1f} vs {n / t_loop:,.1f} ({t_loop / t_batched:.1f}x; "
        f"batch {sizes.batch_size})",
        t_batched < t_loop,
    )


def timed(rows: list[Row], step: Callable[[], Row | list[Row]]) -> None:
    start = time.perf_counter()
    made = step()
    made = made if isinstance(made, list) else [made]
    for row in made:
        print(f"[{time.perf_counter() - start:6.1f} s] {row.check}: {row.result}", flush=True)
    rows.extend(made)


def table(rows: list[Row], device: str, dry_run: bool) -> str:
    verdict = {True: "ok", False: "FAIL"}
    lines = [
        f"GPU check on {device}{' (dry run: tiny sizes)' if dry_run else ''}",
        "| check | result | verdict |",
        "| --- | --- | --- |",
        *(f"| {r.check} | {r.result} | {'-' if dry_run else verdict[r.ok]} |" for r in rows),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--epochs", type=int, help="epochs of the full-scale training (100)")
    args = parser.parse_args()
    sizes = DRY if args.dry_run else Sizes()
    if args.epochs:
        sizes = replace(sizes, epochs=args.epochs)
    device = torch.device("cpu" if args.dry_run else args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("no CUDA device (use --dry-run on a CPU machine)")
        name = torch.cuda.get_device_name(device)
    else:
        name = "cpu"
    start = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        root = Path(tmp)
        timed(rows, lambda: fused_vs_plain(device, sizes))
        data = full_scale_data(sizes)
        timed(rows, lambda: full_scale_training(device, sizes, data))
        timed(rows, lambda: twin_learning(device, sizes, root))
        timed(rows, lambda: trials_per_device(device, sizes, data, root))
        timed(rows, lambda: embed_rate(device, sizes, root))
    print()
    print(table(rows, f"{name}, torch {torch.__version__}", args.dry_run))
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    if not args.dry_run and not all(r.ok for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
