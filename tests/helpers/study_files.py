"""A finished study written file by file in the on-disk layout (Ray files, study/final yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from search_spaces.presets import SEED
from study.spec import DataSettings, StudySpec, SweepSettings

BACKBONES = ["synclr", "aligned_synclr"]
GALLERY = 20


def write_experiment(exp_dir: Path, trials: list[dict[str, Any]]) -> None:
    """An experiment folder as Ray Tune leaves it: state file + one logdir per trial."""
    exp_dir.mkdir(parents=True)
    trial_data = []
    for t in trials:
        logdir = exp_dir / f"trial_{t['trial_id']}"
        logdir.mkdir()
        record = {
            "trial_id": t["trial_id"],
            "status": t["status"],
            "config": t["config"],
            "relative_logdir": logdir.name,
        }
        trial_data.append([json.dumps(record), "{}"])
        if t["rows"]:
            text = "".join(json.dumps(row) + "\n" for row in t["rows"])
            (logdir / "result.json").write_text(text)
        for index, matrix in enumerate(t.get("checkpoints", [])):
            checkpoint = logdir / f"checkpoint_{index:06d}"
            checkpoint.mkdir()
            np.save(checkpoint / "test_similarity.npy", matrix)
    (exp_dir / "experiment_state-2025-01-01_00-00-00.json").write_text(
        json.dumps({"trial_data": trial_data})
    )


def sweep_trials(rng: np.random.Generator, n: int, epochs: int) -> list[dict[str, Any]]:
    trials = []
    for i in range(n):
        config = {
            "lr_encoder": float(rng.uniform(3e-3, 2e-2)),
            "lr_projector": float(rng.uniform(3e-3, 2e-2)),
            "warmup_encoder": int(rng.integers(2, 7)),
            "warmup_projector": int(rng.integers(1, 5)),
            "latent_dim": int(rng.choice([128, 256, 512])),
        }
        n_epochs = epochs if i % 2 == 0 else 1  # odd trials stopped early, as ASHA does
        rows = []
        for epoch in range(1, n_epochs + 1):
            top = np.sort(rng.uniform(0.0, 1.0, size=3))
            rows.append(
                {
                    "epoch": float(epoch),
                    "training_iteration": epoch,
                    "train_loss": float(rng.uniform(1, 3)),
                    "val_loss": float(rng.uniform(1, 3)),
                    "val_top1": float(top[0]),
                    "val_top3": float(top[1]),
                    "val_top5": float(top[2]),
                    "val_chance_top1": 0.05,
                    "val_chance_top3": 0.15,
                    "val_chance_top5": 0.25,
                    "temperature": 0.07,
                    "lr_encoder": config["lr_encoder"],
                    "lr_projector": config["lr_projector"],
                }
            )
        trials.append(
            {"trial_id": f"t{i:03d}", "status": "TERMINATED", "config": config, "rows": rows}
        )
    trials.append(
        {"trial_id": "t998", "status": "ERROR", "config": trials[0]["config"], "rows": []}
    )
    trials.append({"trial_id": "t999", "status": "PENDING", "config": {}, "rows": []})
    return trials


def similarity(rng: np.random.Generator, shift: float) -> np.ndarray:
    matrix = rng.uniform(-0.2, 0.3, size=(GALLERY, GALLERY))
    matrix[np.diag_indices(GALLERY)] += shift
    return matrix.astype(np.float32)


def final_trials(
    rng: np.random.Generator, subjects: list[int], seeds: list[int]
) -> list[dict[str, Any]]:
    trials = []
    for backbone in BACKBONES:
        for subject in subjects:
            for seed in seeds:
                top = np.sort(rng.uniform(0.0, 1.0, size=3))
                row = {
                    "epoch": 2.0,
                    "training_iteration": 2,
                    "train_loss": 1.0,
                    "test_loss": float(rng.uniform(1, 3)),
                    "test_top1": float(top[0]),
                    "test_top3": float(top[1]),
                    "test_top5": float(top[2]),
                    "test_chance_top1": 1 / GALLERY,
                    "test_chance_top3": 3 / GALLERY,
                    "test_chance_top5": 5 / GALLERY,
                }
                trials.append(
                    {
                        "trial_id": f"{backbone}-{subject}-{seed}",
                        "status": "TERMINATED",
                        "config": {"backbone": backbone, "subject": subject, "seed": seed},
                        "rows": [{"epoch": 1.0, "training_iteration": 1, "train_loss": 2.0}, row],
                        "checkpoints": [similarity(rng, 0.0), similarity(rng, 0.5)],
                    }
                )
    unfinished = {"backbone": BACKBONES[0], "subject": subjects[0], "seed": 99}
    trials.append(
        {
            "trial_id": "unfinished",
            "status": "RUNNING",
            "config": unfinished,
            "rows": [{"epoch": 1.0, "training_iteration": 1, "train_loss": 2.0}],
        }
    )
    return trials


def make_study(
    tmp_path: Path,
    *,
    objective: str = "val_top1",
    subjects: list[int] | None = None,
    final: bool = True,
    synthetic: bool = True,
    trials: int = 6,
) -> Path:
    """A finished study under ``tmp_path/studies/demo``; returns the storage folder."""
    rng = np.random.default_rng(7)
    data_root = tmp_path / "data"
    data_root.mkdir()
    if synthetic:
        manifest = {"synthetic": True, "seed": 3, "scale": {"name": "tiny"}, "format": "osf"}
        (data_root / "synthetic.json").write_text(json.dumps(manifest))
    storage = tmp_path / "studies"
    study_dir = storage / "demo"
    spec = StudySpec(
        name="demo",
        backbones=list(BACKBONES),
        data=DataSettings(root=str(data_root), tune_subjects=[1]),
        sweep=SweepSettings(num_samples=6, max_epochs=3, objective=objective),
        spaces={b: SEED.to_dict() for b in BACKBONES},
        provenance={"code_version": "abc1234", "packages": {"torch": "2.15.0", "ray": "2.60"}},
    )
    spec.save(study_dir)
    for backbone in BACKBONES:
        write_experiment(study_dir / backbone, sweep_trials(rng, trials, 3))
    if final:
        subjects = subjects or [1, 2, 3, 4, 5, 6]
        seeds = [0, 1]
        final_dir = study_dir / "final"
        write_experiment(final_dir / "runs", final_trials(rng, subjects, seeds))
        final_spec = {
            "protocol": "intra",
            "seeds": seeds,
            "subjects": subjects,
            "configs": {b: {"epochs": 2, "lr_encoder": 0.008} for b in BACKBONES},
            "data": {
                "release_format": "osf",
                "n_channels": 17,
                "n_times": 100,
                "times_s": [-0.2, 0.79],
                "train_repetitions_averaged": 4,
                "test_repetitions_averaged": 80,
                "test_gallery": f"all {GALLERY} test images",
            },
        }
        (final_dir / "final.yaml").write_text(yaml.safe_dump(final_spec))
    return storage
