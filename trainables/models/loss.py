"""Symmetric InfoNCE (CLIP loss) over the in-batch similarity matrix of L2-normalised latents."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_LOGIT_SCALE = math.log(100.0)


def scaled_similarity(
    z_eeg: torch.Tensor, z_img: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """exp(logit_scale) * cosine similarities.

    The scale is not clamped here (a clamp would zero its gradient once it passed the bound);
    training clamps the parameter itself after every optimizer step (``clamp_logit_scale_``).
    """
    return logit_scale.exp() * (z_eeg @ z_img.transpose(-1, -2))


@torch.no_grad()
def clamp_logit_scale_(logit_scale: torch.Tensor) -> None:
    """Keep exp(logit_scale) <= 100, as CLIP does: on the parameter, after the optimizer step."""
    logit_scale.clamp_(max=MAX_LOGIT_SCALE)


def same_image_mask(image_ids: torch.Tensor) -> torch.Tensor:
    """(batch, batch) True where two different rows show the same image.

    Applied whether or not it holds a True (masking nothing leaves the logits as they are):
    testing for one first would cost a device synchronisation every training step.
    """
    same = image_ids[:, None] == image_ids[None, :]
    return same.fill_diagonal_(False)


def info_nce(
    z_eeg: torch.Tensor,
    z_img: torch.Tensor,
    logit_scale: torch.Tensor,
    image_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean of EEG->image and image->EEG cross-entropy; row i of each side is a positive pair.

    With ``image_ids`` (pooled subjects: two rows may be responses to the same image), a pair of
    different rows showing the same image is left out of the negatives in both directions; a
    batch without such pairs gives exactly the unmasked loss.
    """
    logits = scaled_similarity(z_eeg, z_img, logit_scale).float()
    if image_ids is not None:
        logits = logits.masked_fill(same_image_mask(image_ids), float("-inf"))
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
