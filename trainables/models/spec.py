"""EncoderSpec: what rebuilds an encoder's architecture; saved in checkpoints and study specs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EncoderSpec:
    """Everything needed to rebuild an encoder's architecture (its state_dict holds the rest).

    ``sfreq`` is the data's sampling rate (None in specs written before it was recorded);
    ``settings`` the encoder's settings section as a plain dict (empty for NICE, and in old
    specs, where it means the section's defaults).
    """

    name: str
    n_channels: int
    n_times: int
    dropout: float = 0.5
    sfreq: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EncoderSpec:
        """From ``to_dict``'s output, or an older spec's (without ``sfreq`` or ``settings``)."""
        values = dict(values)
        values["settings"] = dict(values.get("settings") or {})
        return cls(**values)
