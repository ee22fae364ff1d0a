"""Shared utilities: user errors, atomic writes, finiteness checks, strict validation."""

from trainables.common.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "UserError": "errors",
        "DataError": "errors",
        "ConfigError": "errors",
        "TrainingDiverged": "errors",
        "atomic_write": "atomic",
        "save_json_atomic": "atomic",
        "save_npy_atomic": "atomic",
        "require_finite": "finite",
        "validated": "validation",
        "validated_json": "validation",
    },
)
