"""Training one model: TrainConfig, the loop, schedules, checkpoints, the CPU memory setting."""

from trainables.common.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "TrainConfig": "config",
        "TrainResult": "loop",
        "train": "loop",
        "load_checkpoint": "checkpoints",
        "WarmupCosine": "schedules",
    },
)
