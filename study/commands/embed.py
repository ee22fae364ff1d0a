"""`study embed`: precompute image embeddings per backbone into the dataset's embedding stores."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from study.arguments import MAX_BATCH, MAX_WORKERS, check_numbers
from trainables.common.errors import ConfigError, DataError

if TYPE_CHECKING:
    from trainables.embedding.catalog import AnyBackbone


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="embed the dataset's images with image backbones (DreamSim, plug-ins, transforms)",
        description=(
            "Embed the training and test images with each backbone (weights from --models-dir, "
            "never downloaded) into <data>/embeddings/<backbone>/. A backbone is a DreamSim name, "
            "a plug-in (open_clip, timm, torchvision, TorchScript) from the registry or "
            "--backbones-file, or <backbone>+<transform> (a linear alignment transform of its "
            "embedding). Interrupted runs resume; complete, matching stores are left alone."
        ),
    )
    p.add_argument("--list", action="store_true", help="print the backbones, dims and files")
    p.add_argument("--data", type=Path, help="THINGS-EEG2 folder (EEG subjects and images)")
    p.add_argument("--images-dir", type=Path, help="images folder (default: detected in --data)")
    p.add_argument(
        "--embeddings-dir", type=Path, help="where stores go (default: <data>/embeddings)"
    )
    p.add_argument("--backbones", help="comma-separated names, or 'all' (see --list)")
    p.add_argument("--models-dir", type=Path, help="local model weights (see docs/backbones.md)")
    p.add_argument(
        "--backbones-file", type=Path, help="YAML file declaring plug-in backbones and transforms"
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--workers", type=int, default=2, help="image decoding processes (0: inline)")
    p.set_defaults(func=run)


def format_registry(backbones: list[AnyBackbone]) -> str:
    """One block per backbone: name, dimension (? until loaded), call, required files."""
    lines = []
    for b in backbones:
        files = ", ".join(r if isinstance(r, str) else " | ".join(r) for r in b.required_files())
        lines.append(f"{b.name:<18} dim {b.dim or '?':<5} {b.call}")
        lines.append(f"{'':<18} files: {files}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from trainables.embedding.backbones import check_files
    from trainables.embedding.catalog import load_catalog

    catalog = load_catalog(args.backbones_file)
    if args.list:
        print(format_registry(catalog.listing()))
        return 0
    missing = [f for f in ("data", "backbones", "models_dir") if getattr(args, f) is None]
    if missing:
        flags = ", ".join("--" + f.replace("_", "-") for f in missing)
        raise ConfigError(f"study embed needs {flags} (or --list)")
    check_numbers(args, {"batch_size": (1, MAX_BATCH), "workers": (0, MAX_WORKERS)})
    backbones = catalog.parse(args.backbones)
    if not Path(args.models_dir).is_dir():
        raise DataError(f"{args.models_dir}: expected a models folder, found nothing there")
    plain = [b for b in backbones if not _is_transform(b)]
    check_files(plain, args.models_dir, args.backbones_file)  # before the data is looked at

    from trainables.embedding.embed import EmbedSettings, embed_backbone
    from trainables.things_eeg2.layout import find_layout
    from trainables.things_eeg2.loader import dataset_images

    settings = EmbedSettings(device=args.device, batch_size=args.batch_size, workers=args.workers)
    try:
        layout = find_layout(args.data, images_dir=args.images_dir)
        images = dataset_images(layout)
    except DataError:  # missing model files are named first, as for every backbone
        check_files(backbones, args.models_dir, args.backbones_file)
        raise
    store_root = args.embeddings_dir or layout.embeddings_dir
    backbones = [_with_stored_base(b, store_root, images) for b in backbones]
    transforms = [b for b in backbones if _is_transform(b)]
    check_files(transforms, args.models_dir, args.backbones_file)
    if layout.images_dir is None and any(_embeds_images(b) for b in backbones):
        raise DataError(f"{args.data}: expected an images folder, found none; pass --images-dir")
    lists = {"train": images.train.paths, "test": images.test.paths}
    for backbone in backbones:
        result = embed_backbone(backbone, args.models_dir, images.root, lists, store_root, settings)
        print(
            f"{result.backbone}: {result.path} ({'up to date' if result.up_to_date else 'written'})"
        )
    return 0


def _is_transform(backbone: AnyBackbone) -> bool:
    from trainables.embedding.catalog import TransformedBackbone

    return isinstance(backbone, TransformedBackbone)


def _with_stored_base(backbone: AnyBackbone, store_root: Path, images: Any) -> AnyBackbone:
    """A transform whose base store is complete for these images needs no base model files."""
    from trainables.embedding.store import load_store

    if not _is_transform(backbone):
        return backbone
    try:
        load_store(
            store_root,
            backbone.base.name,
            expected_hashes=images.hashes(),
            expected_counts={"train": len(images.train), "test": len(images.test)},
        )
    except DataError:
        return backbone
    return replace(backbone, base_stored=True)


def _embeds_images(backbone: AnyBackbone) -> bool:
    """Whether embedding ``backbone`` reads the images (not a transform of a complete store)."""
    return not (_is_transform(backbone) and backbone.base_stored)
