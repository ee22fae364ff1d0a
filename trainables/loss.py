"""Symmetric InfoNCE (CLIP loss) over the in-batch similarity matrix of L2-normalised latents."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_LOGIT_SCALE = math.log(100.0)


def scaled_similarity(
    z_eeg: torch.Tensor, z_img: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """exp(logit_scale) * cosine similarities; the scale is clamped at 100 as in CLIP."""
    return logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * (z_eeg @ z_img.transpose(-1, -2))


def info_nce(z_eeg: torch.Tensor, z_img: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Mean of EEG->image and image->EEG cross-entropy; row i of each side is a positive pair."""
    logits = scaled_similarity(z_eeg, z_img, logit_scale).float()
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
