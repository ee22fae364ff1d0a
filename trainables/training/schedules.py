"""The optimiser of one trial: Adam with two parameter groups, each with warmup then cosine."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from trainables.models.head import ContrastiveModel
from trainables.training.config import TrainConfig


class WarmupCosine:
    """LR factor per epoch: linear warmup from ``start`` to 1, then cosine down to min/base."""

    def __init__(self, base_lr: float, min_lr: float, warmup: int, epochs: int, start: float):
        self.floor = min_lr / base_lr
        self.warmup = warmup
        self.epochs = epochs
        self.start = start

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup:
            return self.start + (1.0 - self.start) * epoch / self.warmup
        span = max(1, self.epochs - 1 - self.warmup)
        progress = min(1.0, (epoch - self.warmup) / span)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimization(
    model: ContrastiveModel, config: TrainConfig
) -> tuple[torch.optim.Adam, LambdaLR]:
    """Adam with the encoder and the head (projectors + temperature) as two groups.

    ``fused=True``: one kernel for all parameters (CPU and CUDA); on the CPU ten times faster than
    the per-parameter loop over this model's 24 tensors (0.46 vs 5.1 ms per step, 2 cores).
    """
    optimizer = torch.optim.Adam(
        [
            {"params": model.encoder_parameters(), "lr": config.lr_encoder},
            {"params": model.head_parameters(), "lr": config.lr_projector},
        ],
        weight_decay=config.weight_decay,
        fused=True,
    )
    schedules = [
        WarmupCosine(
            config.lr_encoder,
            config.min_lr_encoder,
            config.warmup_encoder,
            config.epochs,
            config.warmup_start_factor,
        ),
        WarmupCosine(
            config.lr_projector,
            config.min_lr_projector,
            config.warmup_projector,
            config.epochs,
            config.warmup_start_factor,
        ),
    ]
    return optimizer, LambdaLR(optimizer, schedules)
