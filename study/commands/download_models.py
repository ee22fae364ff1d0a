"""`study download-models`: fetch the weights (and transform files) the given backbones need."""

from __future__ import annotations

import argparse
import logging
import zipfile
from pathlib import Path

from trainables.common.errors import DataError

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download-models",
        help="download the weights the given backbones need (needs internet)",
        description=(
            "Download into --models-dir what each backbone reads: DreamSim release checkpoints "
            "(and, for the DINO types, the torch.hub repository and backbone checkpoint) by "
            "building each model once with dreamsim's own loader; plug-in weights from their "
            "library's published source; transform files from their url. Files already there "
            "are kept. Run on a machine with internet access."
        ),
    )
    p.add_argument("--backbones", required=True, help="comma-separated names, or 'all'")
    p.add_argument("--models-dir", type=Path, required=True)
    p.add_argument(
        "--backbones-file", type=Path, help="YAML file declaring plug-in backbones and transforms"
    )
    p.set_defaults(func=run)


def _dreamsim_types(models_dir: Path, types: list[str]) -> None:
    from dreamsim import dreamsim

    for name in types:
        logger.info("%s: fetching into %s", name, models_dir)
        try:
            dreamsim(pretrained=True, device="cpu", cache_dir=str(models_dir), dreamsim_type=name)
        except (OSError, zipfile.BadZipFile) as exc:
            raise DataError(
                f"{models_dir}: cannot download {name} weights (offline? {exc}); "
                "run `study download-models` on a machine with internet and copy the folder"
            ) from exc


def run(args: argparse.Namespace) -> int:
    from trainables.embedding.backbones import Backbone
    from trainables.embedding.catalog import TransformedBackbone, load_catalog
    from trainables.embedding.fetch import fetch_plugin, fetch_transform

    backbones = load_catalog(args.backbones_file).parse(args.backbones)
    models_dir = Path(args.models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    every, transformed = [], []
    for backbone in backbones:
        while isinstance(backbone, TransformedBackbone):
            transformed.append(backbone)
            backbone = backbone.base
        every.append(backbone)
    types = [
        b.dreamsim_type.name
        for b in every
        if isinstance(b, Backbone) and b.missing_files(models_dir)
    ]
    if types:
        _dreamsim_types(models_dir, list(dict.fromkeys(types)))
    for backbone in dict.fromkeys(b for b in every if not isinstance(b, Backbone)):
        logger.info("%s: %s", backbone.name, fetch_plugin(backbone, models_dir))
    for backbone in transformed:
        logger.info("%s: %s", backbone.name, fetch_transform(backbone, models_dir))
    still = [f"{b.name}: {', '.join(m)}" for b in backbones if (m := b.missing_files(models_dir))]
    if still:
        raise DataError(f"{models_dir}: still missing after download: {'; '.join(still)}")
    print(f"{models_dir}: all files for {', '.join(b.name for b in backbones)} present")
    return 0
