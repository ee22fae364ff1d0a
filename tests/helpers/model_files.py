"""Empty stand-ins for the model files a backbone needs (enough for the presence checks)."""

from __future__ import annotations

from pathlib import Path

from trainables.embedding.backbones import get_backbone


def touch_required(backbone_name: str, models_dir: Path) -> None:
    """Create every file ``backbone_name`` requires under ``models_dir``, empty."""
    for req in get_backbone(backbone_name).required_files():
        path = models_dir / (req if isinstance(req, str) else req[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
