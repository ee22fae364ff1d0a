"""EncoderSpec: what rebuilds an encoder's architecture; saved in checkpoints and study specs."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class EncoderSpec:
    """Everything needed to rebuild an encoder's architecture (its state_dict holds the rest)."""

    name: str
    n_channels: int
    n_times: int
    dropout: float = 0.5

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> EncoderSpec:
        return cls(**values)  # type: ignore[arg-type]
