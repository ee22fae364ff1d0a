"""Image backbones (registry, offline loading), embedding stores and batched embedding."""

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
    },
)
