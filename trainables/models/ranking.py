"""The one top-k definition of the project: pessimistic retrieval ranks (no torch import).

A query's rank is the number of gallery items scored at least as high as its matched item,
not counting the matched item itself. Ties therefore count against the query, and a non-finite
score is a miss: a NaN or infinite matched score gives the worst rank, and every non-finite
competitor counts as beating the match. A collapsed model (all scores equal) or a diverged one
(NaN scores) thus scores top-k = 0, never 1.

Written with array operators and methods that numpy arrays and torch tensors share, so training
(torch), per-subject scores and report tables (numpy) use the same function.
"""

from __future__ import annotations

from typing import Any

TOP_KS = (1, 3, 5)


def _finite(scores: Any) -> Any:
    return (scores == scores) & (abs(scores) < float("inf"))


def pessimistic_ranks(similarity: Any) -> Any:
    """Rank of each query's match in ``similarity`` (..., queries, gallery); match of row i is i.

    Returns an integer array (..., queries): 0 means the match beats every other item.
    """
    n_gallery = similarity.shape[-1]
    positive = similarity.diagonal(0, -2, -1)[..., None]
    beats = (similarity >= positive) | ~_finite(similarity)
    ranks = beats.sum(-1) - 1
    worst = ~_finite(positive[..., 0])
    return ranks * ~worst + (n_gallery - 1) * worst


def top_k_hits(similarity: Any, k: int) -> Any:
    """Boolean array (..., queries): the match is among the ``k`` best, ties counted against."""
    return pessimistic_ranks(similarity) < k
