"""`study download-models`: fetch DreamSim weights into a models folder via dreamsim's loader."""

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
            "Download DreamSim release checkpoints (and, for the DINO types, the torch.hub "
            "repository and backbone checkpoint) into --models-dir by building each model once "
            "with dreamsim's own loader. Run on a machine with internet access."
        ),
    )
    p.add_argument("--backbones", required=True, help="comma-separated names, or 'all'")
    p.add_argument("--models-dir", type=Path, required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainables.embedding.backbones import parse_backbones

    backbones = parse_backbones(args.backbones)
    models_dir = Path(args.models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    types = list(dict.fromkeys(b.dreamsim_type.name for b in backbones))
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
    still = [f"{b.name}: {', '.join(m)}" for b in backbones if (m := b.missing_files(models_dir))]
    if still:
        raise DataError(f"{models_dir}: still missing after download: {'; '.join(still)}")
    print(f"{models_dir}: all files for {', '.join(b.name for b in backbones)} present")
    return 0
