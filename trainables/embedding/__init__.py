"""Image backbones (DreamSim, plug-ins, transforms; offline), stores, batched embedding."""

from trainables.common.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "Backbone": "backbones",
        "get_backbone": "backbones",
        "parse_backbones": "backbones",
        "load_backbone": "backbones",
        "EmbeddingStore": "store",
        "load_store": "store",
        "write_store": "store",
        "embed_backbone": "embed",
        "load_catalog": "catalog",
        "aligned_pairs": "pairing",
        "unaligned_base": "pairing",
        "load_transform": "alignment",
    },
)
