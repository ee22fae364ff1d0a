"""Images/s of batched `study embed` vs the library's own per-image loop, same model, same run.

DreamSim backbones (default ``aligned_synclr``): dreamsim's ``model.embed(preprocess(img))``, the
paper's loop, on a random-weight model in dreamsim's cache layout (tests/helpers/model_fixtures.py).
``--backbone open_clip:ARCH`` (e.g. ``open_clip:ViT-B-32``): a random-weight open_clip model of
that architecture saved as open_clip's released files are, embedded as a plug-in, vs open_clip's
``model.encode_image(preprocess(img).unsqueeze(0))`` loop. Same JPEGs for both.
Also counts the model's FLOPs per image (FlopCounterMode) and measures the fp32 matmul rate, which
bounds what any batching can gain: the per-image loop's GFLOP/s against that rate.

    .venv/bin/python tests/benchmarks/bench_embed.py [--images 48] [--batch-size 16] [--workers 2]
    .venv/bin/python tests/benchmarks/bench_embed.py --backbone open_clip:ViT-B-32 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import trainables.embedding.embed as image_embedding  # noqa: E402
from tests.benchmarks.matmul_rate import matmul_gflops  # noqa: E402
from tests.helpers.model_fixtures import write_random_models  # noqa: E402
from tests.helpers.plugin_fixtures import write_open_clip  # noqa: E402
from trainables.embedding.alignment import file_sha256  # noqa: E402
from trainables.embedding.backbones import get_backbone, load_backbone  # noqa: E402
from trainables.embedding.embed import EmbedSettings, embed_backbone  # noqa: E402
from trainables.embedding.plugins import OpenClipEntry, PluginBackbone  # noqa: E402


def write_images(root: Path, n_train: int, n_test: int) -> dict[str, list[str]]:
    """Random 500x500 RGB JPEGs in the THINGS-EEG2 layout (10 per training concept)."""
    rng = np.random.default_rng(0)
    lists: dict[str, list[str]] = {"train": [], "test": []}
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            if split == "train":
                rel = f"training_images/{i // 10 + 1:05d}_c{i // 10}/c{i // 10}_{i % 10:02d}b.jpg"
            else:
                rel = f"test_images/{i + 1:05d}_t{i}/t{i}_01s.jpg"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (500, 500, 3), dtype=np.uint8)).save(path)
            lists[split].append(rel)
    return lists


def per_image_loop(
    models_dir: Path, backbone: str, paths: list[Path], device: str
) -> tuple[np.ndarray, float, int]:
    """The paper's loop: dreamsim's preprocess and embed one image at a time.

    Returns the embeddings, the seconds the loop took (not loading) and the FLOPs of one embed.
    """
    from dreamsim import dreamsim

    model, preprocess = dreamsim(
        pretrained=True,
        device=device,
        cache_dir=str(models_dir),
        normalize_embeds=False,
        dreamsim_type=get_backbone(backbone).dreamsim_type.name,
    )

    def embed(path: Path) -> np.ndarray:
        return model.embed(preprocess(Image.open(path)).to(device)).cpu().numpy()

    t0 = time.perf_counter()
    with torch.no_grad():
        out = np.concatenate([embed(p) for p in paths])
    seconds = time.perf_counter() - t0
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        embed(paths[0])
    return out, seconds, counter.get_total_flops()


OPEN_CLIP = "open_clip:"


def open_clip_loop(
    arch: str, weights: Path, paths: list[Path], device: str
) -> tuple[np.ndarray, float, int]:
    """open_clip's own loop: its preprocess and ``encode_image`` one image at a time."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(
        arch, pretrained=str(weights), device=device
    )
    model.eval()

    def embed(path: Path) -> np.ndarray:
        image = preprocess(Image.open(path)).unsqueeze(0).to(device)
        return model.encode_image(image).cpu().numpy()

    t0 = time.perf_counter()
    with torch.no_grad():
        out = np.concatenate([embed(p) for p in paths])
    seconds = time.perf_counter() - t0
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        embed(paths[0])
    return out, seconds, counter.get_total_flops()


def prepare(args: argparse.Namespace, root: Path) -> tuple[Any, Path, Any]:
    """(backbone, models folder, per-image loop) with the loaded model patched into embed."""
    models = root / "models"
    if args.backbone.startswith(OPEN_CLIP):
        arch = args.backbone.removeprefix(OPEN_CLIP)
        rel = f"open_clip/{arch}/custom/open_clip_model.bin"
        write_open_clip(models, rel, arch=arch)
        backbone = PluginBackbone("oc", OpenClipEntry("open_clip", arch, file=rel))
        loaded = backbone.load(models, args.device)
        image_embedding._load = lambda *a, **k: (  # time embedding, not loading
            loaded.embed,
            loaded.preprocess,
            loaded.preprocessing,
        )
        return (
            backbone,
            models,
            lambda paths: open_clip_loop(arch, models / rel, paths, args.device),
        )
    backbone = get_backbone(args.backbone)
    write_random_models(models, backbone.dreamsim_type.name)
    model = load_backbone(backbone, models, args.device)
    image_embedding.load_backbone = lambda *a, **k: model  # time embedding, not loading
    return backbone, models, lambda paths: per_image_loop(models, args.backbone, paths, args.device)


def _seconds(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values) + " s"


def _hash_seconds(backbone: Any, models: Path) -> float | None:
    """Seconds to hash a plug-in's weight file (part of each study embed); None for DreamSim."""
    if not isinstance(backbone, PluginBackbone):
        return None
    t0 = time.perf_counter()
    file_sha256(models / backbone.weights_file())
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--backbone", default="aligned_synclr", help="a DreamSim name or open_clip:ARCHITECTURE"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both loops)")
    parser.add_argument("--repeats", type=int, default=1, help="alternated runs of both loops")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        backbone, models, loop_fn = prepare(args, root)
        n_test = max(1, args.images // 8)
        lists = write_images(root / "images", args.images - n_test, n_test)
        settings = EmbedSettings(
            device=args.device, batch_size=args.batch_size, workers=args.workers
        )

        paths = [root / "images" / r for r in lists["train"] + lists["test"]]
        peaks = [matmul_gflops()]  # the CPU's; printed for --device cpu only
        t_loops, t_batches = [], []
        for r in range(args.repeats):  # alternated, so load changes hit both alike
            loop, t_loop, flops = loop_fn(paths)
            t_loops.append(t_loop)
            peaks.append(matmul_gflops())
            t0 = time.perf_counter()
            embed_backbone(backbone, models, root / "images", lists, root / f"emb{r}", settings)
            t_batches.append(time.perf_counter() - t0)
        store = np.concatenate([np.load(root / "emb0" / backbone.name / f"{s}.npy") for s in lists])
        diff = float(np.abs(store - loop).max())
        t_hash = _hash_seconds(backbone, models)
    n = args.images
    t_loop, t_batched = statistics.median(t_loops), statistics.median(t_batches)
    print(f"backbone {args.backbone}, {n} images, torch threads {torch.get_num_threads()}")
    print(f"per-image loop : {n / t_loop:6.2f} images/s (median of {_seconds(t_loops)})")
    print(
        f"study embed    : {n / t_batched:6.2f} images/s (median of {_seconds(t_batches)}; "
        f"batch {args.batch_size}, {args.workers} workers)"
    )
    ratios = ", ".join(f"{a / b:.2f}" for a, b in zip(t_loops, t_batches, strict=True))
    print(f"ratio          : {t_loop / t_batched:.2f}x (per repeat: {ratios})")
    print(f"max |difference| {diff:.2e}")
    if t_hash is not None:
        print(f"study embed's time includes hashing the weight file: {t_hash:.1f} s")
    if args.device == "cpu":
        peak, loop_rate = statistics.mean(peaks), flops * n / t_loop / 1e9
        print(
            f"model {flops / 1e9:.1f} GFLOP/image; the per-image loop runs {loop_rate:.1f} GFLOP/s"
            f" = {loop_rate / peak:.0%} of the fp32 matmul rate ({peak:.1f} GFLOP/s, before and "
            f"after it): no batching can beat it by more than {peak / loop_rate:.2f}x on this CPU"
        )


if __name__ == "__main__":
    main()
