"""Batched, resumable embedding of the ordered image lists into an embedding store.

Images are decoded and preprocessed in DataLoader worker processes (for DreamSim backbones
exactly as dreamsim's ``preprocess`` does, for plug-ins with their library's preprocessing);
batches go through the backbone's embedding under ``torch.inference_mode`` (bf16 autocast on
CUDA). Rows are written in chunks to ``<store_root>/<backbone>.partial/``, so an interrupted run
resumes at the first row not yet on disk; the complete store is then written atomically by
``trainables.embedding.store.write_store`` and the partial folder removed. A transformed backbone
(``<base>+<transform>``) is its base's store through the linear transform (the base is embedded
first when its store is missing).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from tqdm import tqdm

from trainables.common.atomic import save_json_atomic, save_npy_atomic
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.alignment import file_sha256, load_transform
from trainables.embedding.backbones import Backbone, load_backbone
from trainables.embedding.catalog import AnyBackbone, TransformedBackbone
from trainables.embedding.plugins import PluginBackbone
from trainables.embedding.store import (
    MANIFEST,
    StoreManifest,
    image_list_hash,
    load_store,
    read_manifest,
    store_dir,
    write_store,
)

logger = logging.getLogger(__name__)
SPLITS = ("train", "test")
IMG_SIZE = 224  # dreamsim.config.dreamsim_args["img_size"]
PREPROCESSING = (
    "dreamsim preprocess: PIL .convert('RGB'); torchvision Resize((224, 224), BICUBIC); "
    "ToTensor (float32 in [0, 1]); the model's own Normalize inside embed"
)
NORMALISATION = "none (normalize_embeds=False: raw embed output)"
PARTIAL_META = "partial.json"
PARTIAL_PREPROCESSING = "preprocessing.txt"
IDENTITY_KEYS = ("call", "version", "weights_sha256", "entry")
CHUNK_RE = re.compile(r"^(train|test)-(\d{8})-(\d{8})\.npy$")

_TRANSFORM = transforms.Compose(
    [
        transforms.Resize((IMG_SIZE, IMG_SIZE), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.ToTensor(),
    ]
)


def load_image(path: Path, preprocess: Callable[[Any], torch.Tensor] = _TRANSFORM) -> torch.Tensor:
    """One image, RGB, through ``preprocess`` (default: dreamsim's), without the batch axis."""
    try:
        with Image.open(path) as img:
            return preprocess(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: image not found") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None


@dataclass
class EmbedSettings:
    """How to run the embedding (not part of what the features are)."""

    device: str = "cpu"
    batch_size: int = 32
    workers: int = 2
    chunk_rows: int = 1024

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.chunk_rows < 1 or self.workers < 0:
            raise ConfigError(
                f"batch size and chunk rows must be >= 1 and workers >= 0, got {asdict(self)}"
            )
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be cpu or cuda, got '{self.device}'")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda given but no CUDA device is available")


@dataclass
class EmbedResult:
    """What one ``embed_backbone`` call did."""

    backbone: str
    path: Path
    computed: dict[str, int] = field(default_factory=dict)  # rows computed now, per split
    resumed: dict[str, int] = field(default_factory=dict)  # rows found in a partial run
    up_to_date: bool = False


class _ImageList(Dataset):
    """(index, image tensor or None, error message or None) for each listed image."""

    def __init__(
        self,
        root: Path,
        rel_paths: Sequence[str],
        indices: Sequence[int],
        preprocess: Callable[[Any], torch.Tensor] = _TRANSFORM,
    ) -> None:
        self.root, self.rel_paths, self.indices = Path(root), rel_paths, indices
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        index = self.indices[i]
        try:
            return index, load_image(self.root / self.rel_paths[index], self.preprocess), None
        except DataError as exc:
            return index, None, str(exc)


def _collate(items: list[tuple[int, torch.Tensor | None, str | None]]) -> Any:
    errors = [err for _, _, err in items if err is not None]
    if errors:
        return errors[0]
    return [i for i, _, _ in items], torch.stack([img for _, img, _ in items])


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def _chunks(partial: Path) -> dict[str, list[tuple[int, int, Path]]]:
    found: dict[str, list[tuple[int, int, Path]]] = {s: [] for s in SPLITS}
    for path in partial.glob("*.npy"):
        if m := CHUNK_RE.match(path.name):
            found[m.group(1)].append((int(m.group(2)), int(m.group(3)), path))
    return {s: sorted(c) for s, c in found.items()}


def _done_rows(chunks: list[tuple[int, int, Path]]) -> int:
    """Rows covered contiguously from 0 by the chunk files."""
    done = 0
    for start, stop, _ in chunks:
        if start != done:
            break
        done = stop
    return done


def _assemble(chunks: list[tuple[int, int, Path]], n: int, dim: int) -> np.ndarray:
    """Concatenate chunk files that exactly tile rows ``0:n``."""
    if _done_rows(chunks) != n or (chunks and chunks[-1][1] != n):
        where = chunks[0][2].parent if chunks else "partial run"
        raise DataError(f"{where}: chunk files do not cover rows 0..{n}")
    out = np.empty((n, dim), dtype=np.float32)
    for start, stop, path in chunks:
        rows = np.load(path, allow_pickle=False)
        if rows.shape != (stop - start, dim):
            raise DataError(f"{path}: expected {(stop - start, dim)} rows, found {rows.shape}")
        out[start:stop] = rows
    return out


def _is_up_to_date(store_root: Path, manifest: StoreManifest, dim_known: bool = True) -> bool:
    """A complete store for the same image lists, model (call, version, weights) and dim."""
    if not (store_dir(store_root, manifest.backbone) / MANIFEST).is_file():
        return False
    found = read_manifest(store_root, manifest.backbone)
    return (
        found.image_list_sha256 == manifest.image_list_sha256
        and (found.dim == manifest.dim or not dim_known)
        and all(found.source.get(k) == manifest.source.get(k) for k in IDENTITY_KEYS)
    )


def _open_partial(partial: Path, identity: dict[str, Any]) -> None:
    """Create the partial folder, or keep it only if it was started for the same features."""
    meta = partial / PARTIAL_META
    if meta.is_file():
        try:
            same = json.loads(meta.read_text()) == identity
        except json.JSONDecodeError:
            same = False
        if same:
            return
        logger.info("%s: discarding a partial run for different images or model", partial)
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    save_json_atomic(meta, identity)


def _embed_split(
    embed: Callable[[torch.Tensor], torch.Tensor],
    preprocess: Callable[[Any], torch.Tensor],
    images_root: Path,
    rel_paths: Sequence[str],
    start: int,
    out: Callable[[int, np.ndarray], None],
    settings: EmbedSettings,
    desc: str,
) -> int:
    """Embed rows ``start:`` of one split, handing ``out(first_row, rows)`` each chunk."""
    cuda = settings.device == "cuda"
    loader = DataLoader(
        _ImageList(images_root, rel_paths, range(start, len(rel_paths)), preprocess),
        batch_size=settings.batch_size,
        num_workers=settings.workers,
        collate_fn=_collate,
        worker_init_fn=_worker_init if settings.workers else None,
        pin_memory=cuda,
        persistent_workers=False,
    )
    buffer: list[np.ndarray] = []
    first = start
    with (
        tqdm(total=len(rel_paths) - start, desc=desc, unit="img", file=sys.stderr) as bar,
        torch.inference_mode(),
        torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda),
    ):
        for batch in loader:
            if isinstance(batch, str):
                raise DataError(batch)
            indices, images = batch
            feats = embed(images.to(settings.device, non_blocking=cuda))
            buffer.append(feats.float().cpu().numpy().reshape(len(indices), -1))
            bar.update(len(indices))
            if sum(len(b) for b in buffer) >= settings.chunk_rows:
                rows = np.concatenate(buffer)
                out(first, rows)
                first, buffer = first + len(rows), []
        if buffer:
            out(first, np.concatenate(buffer))
    return len(rel_paths) - start


def _source(backbone: Backbone | PluginBackbone, models_dir: Path) -> dict[str, Any]:
    if isinstance(backbone, Backbone):
        return backbone.source() | {"models_dir": str(Path(models_dir).resolve())}
    return backbone.source(models_dir)


def _load(
    backbone: Backbone | PluginBackbone, models_dir: Path, device: str
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[Any], torch.Tensor], str]:
    """The backbone's batch embedding, per-image preprocessing and preprocessing text."""
    if isinstance(backbone, Backbone):
        return load_backbone(backbone, models_dir, device).embed, _TRANSFORM, PREPROCESSING
    loaded = backbone.load(models_dir, device)
    return loaded.embed, loaded.preprocess, loaded.preprocessing


def embed_backbone(
    backbone: AnyBackbone,
    models_dir: Path,
    images_root: Path,
    image_lists: dict[str, Sequence[str]],
    store_root: Path,
    settings: EmbedSettings,
) -> EmbedResult:
    """Embed the train and test image lists with ``backbone`` into ``store_root/<name>/``."""
    if set(image_lists) != set(SPLITS):
        raise ValueError(f"image_lists needs the splits {SPLITS}, got {sorted(image_lists)}")
    if isinstance(backbone, TransformedBackbone):
        return _embed_transformed(
            backbone, models_dir, images_root, image_lists, store_root, settings
        )
    store_root = Path(store_root)
    hashes = {s: image_list_hash(image_lists[s]) for s in SPLITS}
    source = _source(backbone, models_dir)
    manifest = StoreManifest(
        backbone=backbone.name,
        dim=backbone.dim or 1,
        n_train=len(image_lists["train"]),
        n_test=len(image_lists["test"]),
        image_list_sha256=hashes,
        source=source,
        preprocessing=PREPROCESSING if isinstance(backbone, Backbone) else "",
        normalisation=NORMALISATION if isinstance(backbone, Backbone) else "none (raw output)",
    )
    out_dir = store_dir(store_root, backbone.name)
    if _is_up_to_date(store_root, manifest, dim_known=backbone.dim is not None):
        logger.info(
            "%s: store for '%s' is complete and matches; nothing to do", out_dir, backbone.name
        )
        return EmbedResult(backbone.name, out_dir, up_to_date=True)
    for split in SPLITS:
        for rel in image_lists[split]:
            if not (Path(images_root) / rel).is_file():
                raise DataError(f"{Path(images_root) / rel}: image not found")

    partial = store_root / f"{backbone.name}.partial"
    autocast = "bfloat16" if settings.device == "cuda" else "none (float32)"
    identity = {"hashes": hashes, **{k: source[k] for k in IDENTITY_KEYS if k in source}}
    _open_partial(partial, identity | {"autocast": autocast})
    result = EmbedResult(backbone.name, out_dir)
    chunks = _chunks(partial)
    done = {s: min(_done_rows(chunks[s]), len(image_lists[s])) for s in SPLITS}
    result.resumed = {s: done[s] for s in SPLITS}
    if any(done[s] < len(image_lists[s]) for s in SPLITS):
        if any(done.values()):
            logger.info(
                "%s: resuming (%d train, %d test rows on disk)",
                partial,
                done["train"],
                done["test"],
            )
        embed, preprocess, preprocessing = _load(backbone, models_dir, settings.device)
        (partial / PARTIAL_PREPROCESSING).write_text(preprocessing)
        for split in SPLITS:

            def write_chunk(first: int, rows: np.ndarray, split: str = split) -> None:
                stop = first + len(rows)
                save_npy_atomic(partial / f"{split}-{first:08d}-{stop:08d}.npy", rows)

            result.computed[split] = _embed_split(
                embed,
                preprocess,
                images_root,
                image_lists[split],
                done[split],
                write_chunk,
                settings,
                f"{backbone.name} {split}",
            )
        chunks = _chunks(partial)
    manifest.source["autocast"] = autocast
    if not isinstance(backbone, Backbone):
        manifest.preprocessing = (partial / PARTIAL_PREPROCESSING).read_text()
        manifest.dim = _chunk_dim(chunks)
    arrays = {s: _assemble(chunks[s], len(image_lists[s]), manifest.dim) for s in SPLITS}
    write_store(store_root, manifest, arrays["train"], arrays["test"])
    shutil.rmtree(partial)
    logger.info(
        "%s: wrote %d train + %d test embeddings", out_dir, manifest.n_train, manifest.n_test
    )
    return result


def _chunk_dim(chunks: dict[str, list[tuple[int, int, Path]]]) -> int:
    """The embedding dimension of the first chunk file on disk."""
    first = next(path for split in SPLITS for _, _, path in chunks[split])
    shape = np.load(first, mmap_mode="r", allow_pickle=False).shape
    if len(shape) != 2 or shape[1] < 1:
        raise DataError(f"{first}: expected a 2-D chunk of embeddings, found shape {shape}")
    return int(shape[1])


def _embed_transformed(
    backbone: TransformedBackbone,
    models_dir: Path,
    images_root: Path,
    image_lists: dict[str, Sequence[str]],
    store_root: Path,
    settings: EmbedSettings,
) -> EmbedResult:
    """The base's store (embedded first unless ``backbone.base_stored``: a complete store of
    these images, used as it is - its source is recorded) through the linear transform."""
    if not backbone.base_stored:
        embed_backbone(backbone.base, models_dir, images_root, image_lists, store_root, settings)
    hashes = {s: image_list_hash(image_lists[s]) for s in SPLITS}
    base = load_store(store_root, backbone.base.name, expected_hashes=hashes)
    path = backbone.transform_path(models_dir)
    digest = file_sha256(path) if path.is_file() else ""
    pinned = backbone.entry.sha256 if backbone.entry is not None else None
    if pinned is not None and pinned.lower() != digest:
        raise DataError(f"{path}: sha256 {digest[:16]}... differs from the pinned {pinned[:16]}...")
    transform_source = {"name": backbone.transform, "file": str(path.resolve()), "sha256": digest}
    manifest = StoreManifest(
        backbone=backbone.name,
        dim=1,
        n_train=len(image_lists["train"]),
        n_test=len(image_lists["test"]),
        image_list_sha256=hashes,
        source={
            "package": "numpy",
            "version": np.__version__,
            "call": backbone.call,
            "base": backbone.base.name,
            "base_source": base.manifest.source,
            "transform": transform_source,
        },
        preprocessing=base.manifest.preprocessing,
        normalisation=f"{base.manifest.normalisation}; then the linear transform",
    )
    out_dir = store_dir(store_root, backbone.name)
    if (out_dir / MANIFEST).is_file():
        found = read_manifest(store_root, backbone.name)
        same = (
            found.image_list_sha256 == hashes
            and found.source.get("call") == backbone.call
            and found.source.get("base_source") == base.manifest.source
            and isinstance(found.source.get("transform"), dict)
            and found.source["transform"].get("sha256") == digest
        )
        if same:
            logger.info("%s: '%s' is complete and matches; nothing to do", out_dir, backbone.name)
            return EmbedResult(backbone.name, out_dir, up_to_date=True)
    transform = load_transform(path)
    if transform.in_dim != base.manifest.dim:
        raise DataError(
            f"{path}: transform '{backbone.transform}' takes {transform.in_dim}-d input, but "
            f"'{backbone.base.name}' embeddings are {base.manifest.dim}-d"
        )
    transform_source.update(transform.describe())
    manifest.dim = transform.out_dim
    write_store(store_root, manifest, transform.apply(base.train), transform.apply(base.test))
    logger.info("%s: wrote %s through transform %s", out_dir, backbone.base.name, path)
    return EmbedResult(backbone.name, out_dir, computed={s: len(image_lists[s]) for s in SPLITS})
