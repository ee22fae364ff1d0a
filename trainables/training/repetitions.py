"""k-of-n repetition draws: each epoch's training EEG as means of k random repetitions per pair.

The draws of an epoch come from a generator seeded by (run seed, epoch) alone, so a run resumed
from a checkpoint draws exactly what the uninterrupted run drew, with no state to save.
"""

from __future__ import annotations

import numpy as np
import torch

DRAW_STREAM = 0x5EED_2E95  # tells these draws apart from other streams seeded by (seed, epoch)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator for ``epoch``'s draws, independent of every other epoch's."""
    state = np.random.SeedSequence([seed, epoch, DRAW_STREAM]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def draw_repetitions(n_pairs: int, n_reps: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """(n_pairs, k) int64: k distinct repetition indices in 0..n_reps-1 for each pair."""
    return torch.rand(n_pairs, n_reps, generator=generator).argsort(dim=1)[:, :k]


def mean_of_drawn(repetitions: torch.Tensor, drawn: torch.Tensor) -> torch.Tensor:
    """(pairs, channels, times): each pair's mean over its drawn repetitions (pairs, n, ...)."""
    rows = torch.arange(len(repetitions), device=repetitions.device)
    drawn = drawn.to(repetitions.device)
    out = repetitions[rows, drawn[:, 0]]
    for j in range(1, drawn.shape[1]):
        out += repetitions[rows, drawn[:, j]]
    return out / drawn.shape[1] if drawn.shape[1] > 1 else out


class RepetitionSampler:
    """The training pairs' per-repetition EEG (on the device) and each epoch's k-of-n means."""

    def __init__(self, repetitions: torch.Tensor, k: int, seed: int) -> None:
        self.repetitions = repetitions.reshape(-1, *repetitions.shape[2:])  # (pairs, n, C, T)
        self.k = k
        self.seed = seed

    def epoch_eeg(self, epoch: int) -> torch.Tensor:
        """(pairs, channels, times) float32 for ``epoch`` (0-based), the same on every call."""
        n_pairs, n_reps = self.repetitions.shape[:2]
        drawn = draw_repetitions(n_pairs, n_reps, self.k, epoch_generator(self.seed, epoch))
        return mean_of_drawn(self.repetitions, drawn)
