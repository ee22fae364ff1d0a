"""Synthetic twins for the RSA tests: 40 test images (the tiny twin has 10, too few pairs for a
stable rank correlation), 3 subjects, and a "latent" store holding the image latents themselves
(the backbone the twin's EEG is generated from: alignment share 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from study.synthetic import SCALES, GenerativeParams
from study.synthetic.images import make_image_sets
from study.synthetic.params import Scale
from trainables.analysis.rsa import RsaSettings
from trainables.analysis.rsa_run import RsaResult
from trainables.embedding.store import StoreManifest, image_list_hash, write_store

RSA_SCALE = Scale("rsa-test", n_train_concepts=1, n_test_concepts=40, default_subjects=3)
BACKBONES = ["synclr", "aligned_synclr", "dino", "aligned_dino"]
LATENT = "latent"
PAIRS = [("aligned_synclr", "synclr"), ("aligned_dino", "dino")]
WINDOWED = RsaSettings(window_s=0.05, step_s=0.02)


def write_latent_store(root: Path, seed: int) -> None:
    """A store whose embeddings are the twin's image latents ``z`` (default parameters)."""
    sets = make_image_sets(RSA_SCALE, GenerativeParams(), seed)
    latents = {split: sets[split].latents for split in ("train", "test")}
    manifest = StoreManifest(
        backbone=LATENT,
        dim=latents["test"].shape[1],
        n_train=len(latents["train"]),
        n_test=len(latents["test"]),
        image_list_sha256={s: image_list_hash(sets[s].relative_paths()) for s in latents},
        source={"model": "the synthetic twin's image latents"},
    )
    write_store(root / "embeddings", manifest, latents["train"], latents["test"])


def rsa_twin(synth_twin: Callable[..., Path], seed: int) -> Path:
    """The RSA twin of ``seed`` (written once per session by the ``synth_twin`` factory)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(SCALES, RSA_SCALE.name, RSA_SCALE)
        root = synth_twin(scale=RSA_SCALE.name, images=False, seed=seed, backbones=BACKBONES)
    if not (root / "embeddings" / LATENT).is_dir():
        write_latent_store(root, seed)
    return root


def after_onset(result: RsaResult, backbone: str) -> np.ndarray:
    """Each subject's RSA averaged over the windows centred at or after the image onset."""
    return result.rsa[backbone][:, result.windows.centre_s >= 0].mean(axis=1)


def check_twin_ordering(result: RsaResult) -> None:
    """What the twin's generative model dictates: every aligned backbone's RSA is above its
    base's for every subject (alignment share 0.8 vs 0.4), and the latents' above both."""
    latent = after_onset(result, LATENT)
    for aligned, base in PAIRS:
        a, b = after_onset(result, aligned), after_onset(result, base)
        assert (a - b).min() > 0.01, (aligned, a, b)
        assert (a - b).mean() > 0.02, (aligned, a, b)
        assert result.peak(aligned)[0] > result.peak(base)[0] + 0.02
        assert latent.mean() > a.mean()
    assert (result.ceiling.upper >= result.ceiling.lower).all()
