"""Checkpoint directories of a run: weights_only-loadable state, RNG states, resume checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trainables.common.atomic import atomic_write, save_json_atomic
from trainables.common.errors import ConfigError, DataError
from trainables.training.config import TrainConfig

STATE_FILE = "state.pt"
TEST_SIMILARITY_FILE = "test_similarity.npy"
CHECKPOINT_KEYS = {"model", "optimizer", "scheduler", "rng", "epoch", "config", "history"}
# Fields that may differ between a checkpoint and the run resuming it (no effect on numerics).
RESUME_FREE_FIELDS = {"device", "compile", "checkpoint_every"}


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "permutation": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["permutation"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write a checkpoint directory: ``state.pt`` (weights_only-loadable) plus readable JSON."""
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / STATE_FILE, lambda tmp: torch.save(state, tmp))
    save_json_atomic(path / "config.json", state["config"])
    if state["history"]:
        save_json_atomic(path / "metrics.json", state["history"][-1])
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint directory (or its state.pt) with ``torch.load(weights_only=True)``."""
    path = Path(path)
    file = path / STATE_FILE if path.is_dir() else path
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"no checkpoint at {file}") from None
    except Exception as exc:
        raise DataError(f"{file} is not a readable checkpoint: {exc}") from exc
    missing = CHECKPOINT_KEYS - set(state) if isinstance(state, dict) else CHECKPOINT_KEYS
    if missing:
        raise DataError(
            f"{file} is not a training checkpoint (missing {', '.join(sorted(missing))})"
        )
    return state


def check_resume_config(saved: dict[str, Any], config: TrainConfig, source: Path) -> None:
    current = config.to_dict()
    saved = TrainConfig.from_dict(saved, f"{source} (saved config)").to_dict()
    changed = sorted(k for k in current if k not in RESUME_FREE_FIELDS and saved[k] != current[k])
    if changed:
        raise ConfigError(f"cannot resume from {source}: config differs in {', '.join(changed)}")
