"""Fetch plug-in weights and transform files into the models folder (needs internet).

Each file goes where the embedding reads it (``PluginBackbone.weights_file``,
``TransformedBackbone.transform_files``); a file already there is kept. DreamSim weights are
fetched by ``study download-models`` through dreamsim's own loader.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import urllib.request
from pathlib import Path
from urllib.error import URLError

from trainables.common.errors import DataError
from trainables.embedding.alignment import file_sha256
from trainables.embedding.catalog import TransformedBackbone
from trainables.embedding.plugins import (
    OpenClipEntry,
    PluginBackbone,
    TimmEntry,
    TorchvisionEntry,
)

logger = logging.getLogger(__name__)
NETWORK_ERRORS = (OSError, URLError, RuntimeError, ValueError)


def fetch_plugin(backbone: PluginBackbone, models_dir: Path) -> Path:
    """Download ``backbone``'s published weights to its file under ``models_dir``."""
    target = Path(models_dir) / backbone.weights_file()
    if target.is_file() and target.stat().st_size > 0:
        return target
    entry = backbone.entry
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(entry, OpenClipEntry) and entry.pretrained is not None:
            _open_clip(entry, target)
        elif isinstance(entry, TimmEntry):
            _timm(entry, target)
        elif isinstance(entry, TorchvisionEntry) and entry.weights is not None:
            _torchvision(entry, target)
        else:
            raise DataError(
                f"{target}: backbone '{backbone.name}' names no published weights; copy its "
                "weight file there yourself"
            )
    except NETWORK_ERRORS as exc:
        raise DataError(
            f"{target}: cannot download weights of '{backbone.name}' (offline? "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    return target


def _open_clip(entry: OpenClipEntry, target: Path) -> None:
    import open_clip
    from open_clip.pretrained import download_pretrained

    tag = open_clip.get_pretrained_cfg(entry.architecture, entry.pretrained or "")
    if not tag:
        raise ValueError(f"open_clip has no tag {entry.pretrained!r} for {entry.architecture}")
    with tempfile.TemporaryDirectory() as cache:
        shutil.copyfile(download_pretrained(tag, cache_dir=cache), target)


def _timm(entry: TimmEntry, target: Path) -> None:
    import timm
    from safetensors.torch import save_file

    model = timm.create_model(entry.model, pretrained=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(target))


def _torchvision(entry: TorchvisionEntry, target: Path) -> None:
    import torch
    from torchvision.models import get_weight

    with tempfile.TemporaryDirectory() as cache:
        state = get_weight(entry.weights or "").get_state_dict(progress=False, model_dir=cache)
    torch.save(state, target)


def fetch_transform(backbone: TransformedBackbone, models_dir: Path) -> Path:
    """Download a declared transform from its ``url`` (checking a pinned sha256)."""
    target = backbone.transform_path(models_dir)
    if target.is_file() and target.stat().st_size > 0:
        return target
    entry = backbone.entry
    if entry is None or entry.url is None:
        raise DataError(
            f"{target}: transform '{backbone.transform}' has no url in the backbones file; "
            "copy the file there yourself"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".download")
    try:
        with urllib.request.urlopen(entry.url, timeout=60) as response, open(partial, "wb") as fh:
            shutil.copyfileobj(response, fh)
    except NETWORK_ERRORS as exc:
        partial.unlink(missing_ok=True)
        raise DataError(f"{target}: cannot download {entry.url} (offline? {exc})") from exc
    if entry.sha256 is not None and file_sha256(partial) != entry.sha256.lower():
        partial.unlink()
        raise DataError(f"{target}: the download from {entry.url} does not match its sha256")
    partial.replace(target)
    return target
