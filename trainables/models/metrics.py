"""Retrieval metrics over a whole gallery: loss and top-k, one batched matrix product."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainables.models.loss import scaled_similarity
from trainables.models.ranking import TOP_KS, pessimistic_ranks, top_k_hits


def retrieval_metrics(
    z_eeg: torch.Tensor,
    z_img: torch.Tensor,
    logit_scale: torch.Tensor,
    prefix: str,
    ks: tuple[int, ...] = TOP_KS,
) -> dict[str, float]:
    """k-way retrieval of each EEG trial's image among all ``k`` gallery images, per subject.

    ``z_eeg`` is (subjects, images, latent), ``z_img`` (images, latent), both L2-normalised.
    Returns ``{prefix}_loss`` (symmetric InfoNCE over the whole gallery), ``{prefix}_top{k}``
    (pessimistic ranks: ties and non-finite scores are misses, see trainables.models.ranking) and
    ``{prefix}_chance_top{k}`` (= k / images), each averaged over subjects.
    """
    n_subjects, n_images = z_eeg.shape[0], z_eeg.shape[1]
    logits = scaled_similarity(z_eeg.float(), z_img.float(), logit_scale.float())
    labels = torch.arange(n_images, device=logits.device).repeat(n_subjects)
    flat = logits.reshape(-1, n_images)
    loss_eeg = F.cross_entropy(flat, labels)
    loss_img = F.cross_entropy(logits.transpose(1, 2).reshape(-1, n_images), labels)
    rank = pessimistic_ranks(logits)
    metrics = {f"{prefix}_loss": float((loss_eeg + loss_img) / 2)}
    for k in ks:
        metrics[f"{prefix}_top{k}"] = float((rank < k).float().mean())
        metrics[f"{prefix}_chance_top{k}"] = min(1.0, k / n_images)
    return metrics


def per_subject_top1(z_eeg: torch.Tensor, z_img: torch.Tensor) -> list[float]:
    """Top-1 retrieval accuracy of each subject separately (for reports)."""
    hits = top_k_hits(z_eeg.float() @ z_img.float().T, 1)
    return [float(v) for v in hits.float().mean(-1)]
