"""A cell's finished sweep as recorded in ``<cell>/sweep_done.json`` (written by study.sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.spec import cell_key
from trainables.common.errors import DataError
from trainables.common.validation import validated_json

DONE_FILE = "sweep_done.json"


@dataclass
class SweepOutcome:
    """What one cell's sweep ended with (also saved as ``<cell>/sweep_done.json``)."""

    backbone: str
    trials: int
    errors: int
    best_value: float | None
    best_config: dict[str, Any]
    seconds: float
    encoder: str | None = None  # None: a study without an encoders axis
    inputs: str | None = None  # None: a study without an inputs axis

    @property
    def key(self) -> str:
        return cell_key(self.encoder, self.backbone, self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_outcome(study_dir: Path, key: str) -> SweepOutcome | None:
    """The cell's ``sweep_done.json`` (None before it finished); damaged: a DataError."""
    path = study_dir / key / DONE_FILE
    if not path.is_file():
        return None
    return validated_json(SweepOutcome, path.read_bytes(), str(path), DataError)
