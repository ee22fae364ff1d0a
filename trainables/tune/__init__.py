"""The only modules that import Ray: sweep and final-run trainables, shared object-store data."""

from trainables.common.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "make_trainable": "trainable",
        "make_final_trainable": "final_trainable",
        "SharedEEGData": "shared_data",
        "share_eeg": "shared_data",
    },
)
