"""Synthetic image embeddings: each backbone sees the image latents up to its alignment share,
written as a real embedding store."""

from __future__ import annotations

import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from study.synthetic.images import ImageSet
from study.synthetic.params import (
    GENERATOR,
    GENERATOR_VERSION,
    GenerativeParams,
    Stream,
    SynthConfig,
    backbone_dim,
    stream_rng,
)
from trainables.embedding.store import StoreManifest, image_list_hash, write_store


def backbone_embeddings(
    backbone: str, sets: dict[str, ImageSet], params: GenerativeParams, seed: int
) -> dict[str, np.ndarray]:
    """Embeddings ``M_b (sqrt(a) z + sqrt(1-a) W_b n_b) + noise`` per split, float32 (n, dim)."""
    dim = backbone_dim(backbone)
    share = params.alignment_share(backbone)
    rng = stream_rng(seed, Stream.BACKBONE, zlib.crc32(backbone.encode()))
    mixing = rng.standard_normal((dim, params.latent_dim)) / np.sqrt(params.latent_dim)
    nuisance_map = rng.standard_normal((params.latent_dim, params.nuisance_dim))
    nuisance_map /= np.sqrt(params.nuisance_dim)
    out = {}
    for split in ("train", "test"):
        z = sets[split].latents
        nuisance = rng.standard_normal((len(z), params.nuisance_dim)) @ nuisance_map.T
        features = np.sqrt(share) * z + np.sqrt(1.0 - share) * nuisance
        noise = params.embedding_noise * rng.standard_normal((len(z), dim))
        out[split] = (features @ mixing.T + noise).astype(np.float32)
    return out


def write_embedding_store(
    root: Path, backbone: str, sets: dict[str, ImageSet], config: SynthConfig
) -> Path:
    """Write ``backbone``'s store under ``root``; its manifest's source names the generator."""
    embeddings = backbone_embeddings(backbone, sets, config.params, config.seed)
    manifest = StoreManifest(
        backbone=backbone,
        dim=backbone_dim(backbone),
        n_train=len(sets["train"].latents),
        n_test=len(sets["test"].latents),
        image_list_sha256={s: image_list_hash(sets[s].relative_paths()) for s in ("train", "test")},
        source={
            "model": "SYNTHETIC (study synth generative model, no image model was run)",
            "generator": GENERATOR,
            "generator_version": GENERATOR_VERSION,
            "seed": config.seed,
            "alignment_share": config.params.alignment_share(backbone),
            "params": asdict(config.params),
        },
        preprocessing="synthetic: computed from image latents, no pixels read",
        normalisation="none",
    )
    return write_store(root, manifest, embeddings["train"], embeddings["test"])
