"""Symmetric InfoNCE and whole-gallery retrieval metrics against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainables.models.loss import MAX_LOGIT_SCALE, clamp_logit_scale_, info_nce
from trainables.models.metrics import per_subject_top1, retrieval_metrics
from trainables.models.ranking import pessimistic_ranks, top_k_hits


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
    # every trial closest to the next image, then its own: rank 1 -> top-3 hit
    shifted = gallery.roll(1, 0) + 0.5 * gallery
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


@pytest.mark.parametrize(
    "z_eeg",
    [
        torch.zeros(2, 6, 8),  # collapsed encoder: every similarity ties at 0
        F.normalize(torch.ones(2, 6, 8), dim=-1),  # every trial the same latent
        torch.full((2, 6, 8), float("nan")),  # diverged encoder
    ],
    ids=["zeros", "all-equal", "nan"],
)
def test_collapsed_or_diverged_latents_score_zero_not_perfect(z_eeg: torch.Tensor) -> None:
    gallery = F.normalize(torch.ones(6, 8), dim=-1)
    m = retrieval_metrics(z_eeg, gallery, torch.tensor(0.0), "val")
    assert [m[f"val_top{k}"] for k in (1, 3, 5)] == [0.0, 0.0, 0.0]
    assert per_subject_top1(z_eeg, gallery) == [0.0, 0.0]


def test_ties_count_against_the_query_and_non_finite_scores_are_misses() -> None:
    sims = np.array(
        [
            [1.0, 1.0, 0.0, 0.0],  # tie with one competitor: rank 1
            [0.0, 2.0, 0.0, 0.0],  # strict best: rank 0
            [0.0, np.nan, 3.0, 0.0],  # a NaN competitor counts as beating the match: rank 1
            [0.0, 0.0, 0.0, np.inf],  # an infinite match is a miss: worst rank
        ]
    )
    assert pessimistic_ranks(sims).tolist() == [1, 0, 1, 3]
    assert top_k_hits(sims, 1).tolist() == [False, True, False, False]
    torch.testing.assert_close(
        pessimistic_ranks(torch.from_numpy(sims)), torch.tensor([1, 0, 1, 3])
    )


def test_one_top_k_definition_for_numpy_and_torch() -> None:
    """Training (torch) and report tables (numpy) rank identically, ties included."""
    rng = np.random.default_rng(0)
    sims = rng.integers(0, 3, size=(2, 20, 20)).astype(np.float32)  # many ties
    for k in (1, 3, 5):
        assert np.array_equal(top_k_hits(sims, k), top_k_hits(torch.from_numpy(sims), k).numpy())


def test_same_image_pairs_are_left_out_of_the_negatives() -> None:
    a, b = _unit(5, 8, seed=7), _unit(5, 8, seed=8)
    scale = torch.tensor(math.log(1 / 0.07))
    ids = torch.tensor([0, 1, 0, 2, 1])  # rows 0/2 and 1/4: two subjects' responses to one image
    logits = (a @ b.T) / 0.07
    keep = ~((ids[:, None] == ids[None, :]) & ~torch.eye(5, dtype=torch.bool))
    rows = [logits[i][keep[i]].log_softmax(0)[int(keep[i][:i].sum())] for i in range(5)]
    cols = [logits[:, j][keep[:, j]].log_softmax(0)[int(keep[:j, j].sum())] for j in range(5)]
    manual = -0.5 * (torch.stack(rows).mean() + torch.stack(cols).mean())
    torch.testing.assert_close(info_nce(a, b, scale, ids), manual)
    assert not torch.allclose(info_nce(a, b, scale), manual)


def test_distinct_images_give_exactly_the_unmasked_loss() -> None:
    a, b = _unit(6, 8, seed=9), _unit(6, 8, seed=10)
    scale = torch.tensor(2.5)
    assert torch.equal(info_nce(a, b, scale, torch.arange(6)), info_nce(a, b, scale))


def test_logit_scale_keeps_its_gradient_past_the_bound_and_is_clamped_as_a_parameter() -> None:
    a, b = _unit(5, 8, seed=11), _unit(5, 8, seed=12)
    scale = torch.nn.Parameter(torch.tensor(MAX_LOGIT_SCALE + 0.5))
    info_nce(a, b, scale).backward()
    assert scale.grad is not None and float(scale.grad) != 0.0
    clamp_logit_scale_(scale)
    assert float(scale.detach()) == pytest.approx(MAX_LOGIT_SCALE)
