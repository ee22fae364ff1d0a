"""EEG encoders (registry), the contrastive head, the InfoNCE loss and retrieval metrics."""

from trainables.common.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "EncoderSpec": "spec",
        "ENCODERS": "registry",
        "build_encoder": "registry",
        "resolve_variant": "registry",
        "ContrastiveModel": "head",
        "build_model": "head",
        "info_nce": "loss",
        "retrieval_metrics": "metrics",
        "TOP_KS": "ranking",
        "pessimistic_ranks": "ranking",
        "top_k_hits": "ranking",
    },
)
