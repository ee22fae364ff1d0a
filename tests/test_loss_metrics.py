"""Symmetric InfoNCE and whole-gallery retrieval metrics against direct computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainables.loss import info_nce
from trainables.metrics import per_subject_top1, retrieval_metrics


def _unit(*shape: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_info_nce_is_symmetric_cross_entropy_with_temperature() -> None:
    a, b = _unit(5, 8, seed=0), _unit(5, 8, seed=1)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    logits = (a @ b.T) / 0.07
    manual = -0.5 * (logits.log_softmax(1).diag().mean() + logits.log_softmax(0).diag().mean())
    loss = info_nce(a, b, scale)
    torch.testing.assert_close(loss, manual)
    loss.backward()
    assert scale.grad is not None and scale.grad != 0


def test_info_nce_prefers_matched_pairs() -> None:
    a = _unit(6, 8, seed=2)
    scale = torch.tensor(math.log(1 / 0.07))
    assert info_nce(a, a, scale) < info_nce(a, a.roll(1, 0), scale)


def test_retrieval_ranks_against_the_whole_gallery_per_subject() -> None:
    gallery = torch.eye(4)
    perfect = gallery.clone()
    shifted = gallery.roll(1, 0)  # every trial closest to the next image: rank 1 -> top-3 hit
    z_eeg = torch.stack([perfect, shifted])
    m = retrieval_metrics(z_eeg, gallery, torch.tensor(0.0), "val")
    assert m["val_top1"] == pytest.approx(0.5)
    assert m["val_top3"] == pytest.approx(1.0)
    assert m["val_chance_top1"] == pytest.approx(0.25)
    assert m["val_chance_top5"] == 1.0
    assert per_subject_top1(z_eeg, gallery) == [1.0, 0.0]


def test_retrieval_loss_matches_info_nce_per_subject() -> None:
    z_eeg, gallery = _unit(3, 10, 8, seed=3), _unit(10, 8, seed=4)
    scale = torch.tensor(2.0)
    expected = torch.stack([info_nce(z_eeg[s], gallery, scale) for s in range(3)]).mean()
    got = retrieval_metrics(z_eeg, gallery, scale, "test")["test_loss"]
    assert got == pytest.approx(float(expected), rel=1e-5)


def test_top_k_matches_a_sort_based_reference() -> None:
    z_eeg, gallery = _unit(2, 30, 8, seed=5), _unit(30, 8, seed=6)
    m = retrieval_metrics(z_eeg, gallery, torch.tensor(0.0), "val")
    sims = z_eeg @ gallery.T
    order = sims.argsort(-1, descending=True)
    target = torch.arange(30).view(1, 30, 1)
    for k in (1, 3, 5):
        hits = (order[..., :k] == target).any(-1).float().mean()
        assert m[f"val_top{k}"] == pytest.approx(float(hits))
