"""Input variants: which channels, time window, sampling rate and repetition handling a run sees.

An :class:`InputSpec` is a study setting (plain data, CLI text ``channels:occipital/tmax:0.4``);
:func:`resolve_inputs` checks it against a dataset's axes and gives the :class:`AppliedInputs`
that :func:`apply_inputs` applies to an array (channels, then crop, then resampling). Numpy only:
MNE is imported when an array is resampled. Groups, grammar and method: docs/inputs.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from trainables.common.errors import ConfigError
from trainables.common.validation import STRICT, validated
from trainables.things_eeg2.formats import POSTERIOR_REGEX

# Regions by 10-10 name prefix, matched at the start of the name (re.match, as MNE's
# pick_channels_regexp in the official pipeline). The five regions partition the 63-channel cap.
CHANNEL_GROUPS: dict[str, str] = {
    "occipital": r"^(PO|O|I)",
    "parietal": r"^P(?!O)",
    "temporal": r"^(FT|T)",
    "central": r"^(FC|C)",
    "frontal": r"^(AF|F(?![CT]))",
    "posterior": POSTERIOR_REGEX,  # the official release's 17 channels
    "all": r"",
}
AVERAGE = "average"
REPETITION_MODES = f"'{AVERAGE}' or an integer k >= 1"
DEFAULT_TEXT = "default"
LIST_SEPARATOR = "+"
PART_SEPARATOR = "/"
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
RESERVED = set(f"{LIST_SEPARATOR}{PART_SEPARATOR},:= ")
CHUNK_ROWS = 1 << 14  # rows (channels x leading axes) resampled at a time, as float64
RESAMPLING = "mne.filter.resample (FFT, MNE's default padding), applied as its matrix"


class InvalidInputs(ConfigError, ValueError):
    """A bad setting: a ConfigError, and a ValueError so pydantic reports where it sits."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


@dataclass(frozen=True)
class InputSpec:
    """What a run reads of the prepared EEG; the defaults are the data as it is."""

    __pydantic_config__ = STRICT
    channels: str | list[str] = "all"  # a CHANNEL_GROUPS name, or channel names
    tmin: float | None = None  # crop window (s) within the epoch; None: its first sample
    tmax: float | None = None  # None: its last sample
    decimate: int = 1  # resample by this integer factor after the crop
    repetitions: str | int = AVERAGE  # or k: train on means of k random repetitions per epoch

    def __post_init__(self) -> None:
        channels = self.channels
        if isinstance(channels, tuple | list):
            channels = list(channels)
            if not channels or not all(isinstance(c, str) and c for c in channels):
                raise InvalidInputs(f"channels must be a group or channel names, got {channels}")
            odd = [c for c in channels if RESERVED & set(c)]
            if odd:
                raise InvalidInputs(
                    f"channel name {odd[0]!r} holds one of {''.join(sorted(RESERVED))!r}"
                )
            groups = [c for c in channels if c in CHANNEL_GROUPS]
            if groups:
                raise InvalidInputs(
                    f"channels: {groups[0]!r} is a group name, not a channel (channels:{groups[0]})"
                )
            twice = sorted({c for c in channels if channels.count(c) > 1})
            if twice:
                raise InvalidInputs(f"channels lists {', '.join(twice)} more than once")
            object.__setattr__(self, "channels", channels)
        elif channels not in CHANNEL_GROUPS:
            raise InvalidInputs(
                f"channels: unknown group {channels!r} (groups: {', '.join(CHANNEL_GROUPS)}; "
                f"or channel names joined by '{LIST_SEPARATOR}')"
            )
        for name in ("tmin", "tmax"):
            value = getattr(self, name)
            if value is not None:
                if not _is_number(value):
                    raise InvalidInputs(f"{name} must be a finite number of seconds, got {value!r}")
                object.__setattr__(self, name, float(value))
        if self.tmin is not None and self.tmax is not None and self.tmin >= self.tmax:
            raise InvalidInputs(f"tmin ({self.tmin:g} s) must be below tmax ({self.tmax:g} s)")
        if not _is_int(self.decimate) or self.decimate < 1:
            raise InvalidInputs(f"decimate must be an integer >= 1, got {self.decimate!r}")
        reps = self.repetitions
        if not (reps == AVERAGE or (_is_int(reps) and reps >= 1)):
            raise InvalidInputs(f"repetitions must be {REPETITION_MODES}, got {reps!r}")

    @property
    def train_repetitions(self) -> int | None:
        """k when training draws k-of-n repetition means, None when it uses the average."""
        return None if self.repetitions == AVERAGE else int(self.repetitions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "inputs") -> InputSpec:
        """``raw`` (plain YAML/JSON data) as an InputSpec; a one-line ConfigError if invalid."""
        if isinstance(raw, dict) and set(raw) <= {item.name for item in fields(cls)}:
            try:
                cls(**raw)  # the settings' own messages first (pydantic's name union members)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        return validated(cls, raw, source)

    def to_text(self) -> str:
        """The CLI form: ``parse_input_spec(spec.to_text()) == spec``."""
        parts = []
        for item in fields(self):
            value = getattr(self, item.name)
            if value == item.default:
                continue
            if isinstance(value, list):
                value = LIST_SEPARATOR.join(value)
            elif isinstance(value, float):
                value = repr(value)
            parts.append(f"{item.name}:{value}")
        return PART_SEPARATOR.join(parts) or DEFAULT_TEXT

    def is_default(self) -> bool:
        return self == InputSpec()


def parse_input_spec(text: str) -> InputSpec:
    """``"channels:occipital/tmin:0/tmax:0.4/decimate:2/repetitions:1"``; "" or "default": all."""
    text = text.strip()
    if text in ("", DEFAULT_TEXT):
        return InputSpec()
    values: dict[str, Any] = {}
    known = [item.name for item in fields(InputSpec)]
    for part in text.split(PART_SEPARATOR):
        key, sep, value = (s.strip() for s in part.partition(":"))
        if not sep or not value:
            raise ConfigError(
                f"inputs {text!r}: expected KEY:VALUE parts joined by '/', got {part!r}"
            )
        if key not in known:
            raise ConfigError(f"inputs {text!r}: unknown key {key!r} (keys: {', '.join(known)})")
        if key in values:
            raise ConfigError(f"inputs {text!r}: {key} given twice")
        values[key] = _parse_value(key, value, text)
    try:
        return InputSpec(**values)
    except ConfigError as exc:
        raise ConfigError(f"inputs {text!r}: {exc}") from None


def _parse_value(key: str, value: str, text: str) -> Any:
    if key == "channels":
        if LIST_SEPARATOR in value or value not in CHANNEL_GROUPS:
            return [name.strip() for name in value.split(LIST_SEPARATOR)]
        return value
    if key == "repetitions" and value == AVERAGE:
        return value
    try:
        return float(value) if key in ("tmin", "tmax") else int(value)
    except ValueError:
        kind = "a number of seconds" if key in ("tmin", "tmax") else "an integer"
        if key == "repetitions":
            kind = REPETITION_MODES
        raise ConfigError(f"inputs {text!r}: {key} must be {kind}, got {value!r}") from None


def parse_input_variants(text: str) -> dict[str, InputSpec]:
    """``"full=default,occ=channels:occipital,early=tmax:0.2"`` as {name: spec}, in order."""
    variants: dict[str, InputSpec] = {}
    for item in text.split(","):
        name, sep, spec = (s.strip() for s in item.partition("="))
        if not sep or not VARIANT_NAME.match(name):
            raise ConfigError(
                f"input variants {text!r}: expected NAME=SPEC items joined by ',' (names of "
                f"letters, digits, '_' and '-'), got {item.strip()!r}"
            )
        if name in variants:
            raise ConfigError(f"input variants {text!r}: {name!r} given twice")
        variants[name] = parse_input_spec(spec)
    return variants


@dataclass
class AppliedInputs:
    """An InputSpec resolved against one dataset's axes: what :func:`apply_inputs` keeps."""

    spec: InputSpec
    channel_idx: np.ndarray  # int64 positions in the data's channels, in the data's order
    ch_names: list[str]
    time_idx: slice  # the crop, in samples of the data
    times: np.ndarray  # seconds of the samples the result holds
    sfreq: float  # sampling rate of the result
    n_source_channels: int
    n_source_times: int

    @property
    def all_channels(self) -> bool:
        return len(self.channel_idx) == self.n_source_channels

    @property
    def full_window(self) -> bool:
        return self.time_idx == slice(0, self.n_source_times)

    def describe(self) -> dict[str, Any]:
        """The protocol block: the settings, and the channels and time axis they gave."""
        return {
            "spec": self.spec.to_text(),
            "settings": self.spec.to_dict(),
            "channels": list(self.ch_names),
            "n_channels": len(self.ch_names),
            "times_s": [float(self.times[0]), float(self.times[-1])],
            "n_times": int(len(self.times)),
            "sfreq": self.sfreq,
            "resampling": RESAMPLING if self.spec.decimate > 1 else None,
            "source": {"n_channels": self.n_source_channels, "n_times": self.n_source_times},
        }


def resolve_inputs(
    spec: InputSpec,
    ch_names: Sequence[str],
    times: np.ndarray,
    sfreq: float,
    *,
    n_repetitions: int | None = None,
) -> AppliedInputs:
    """Check ``spec`` against the data's channels, times (s) and rate; one-line ConfigErrors.

    ``n_repetitions``: the repetitions each training image has, when known (k must not exceed it).
    """
    ch_names = list(ch_names)
    times = np.asarray(times, dtype=np.float64)
    channel_idx = _channel_idx(spec, ch_names)
    time_idx = _window(spec, times, sfreq)
    n_window = time_idx.stop - time_idx.start
    n_times = resampled_length(n_window, spec.decimate)
    if n_times < 2:
        raise ConfigError(
            f"inputs decimate: {spec.decimate} leaves {n_times} sample(s) of the {n_window} in "
            f"the window; at least 2 are needed"
        )
    k = spec.train_repetitions
    if k is not None and n_repetitions is not None and k > n_repetitions:
        raise ConfigError(
            f"inputs repetitions: k={k} exceeds the {n_repetitions} repetitions per training image"
        )
    new_sfreq = sfreq / spec.decimate
    kept = (
        times[time_idx]
        if spec.decimate == 1
        else times[time_idx.start] + np.arange(n_times) / new_sfreq
    )
    return AppliedInputs(
        spec=spec,
        channel_idx=channel_idx,
        ch_names=[ch_names[i] for i in channel_idx],
        time_idx=time_idx,
        times=kept,
        sfreq=new_sfreq,
        n_source_channels=len(ch_names),
        n_source_times=len(times),
    )


def _channel_idx(spec: InputSpec, ch_names: list[str]) -> np.ndarray:
    shown = f"the data's {len(ch_names)} channels: {', '.join(ch_names)}"
    if isinstance(spec.channels, list):
        unknown = [c for c in spec.channels if c not in ch_names]
        if unknown:
            raise ConfigError(f"inputs channels: {', '.join(unknown)} not among {shown}")
        wanted = set(spec.channels)
        return np.array([i for i, c in enumerate(ch_names) if c in wanted], dtype=np.int64)
    pattern = re.compile(CHANNEL_GROUPS[spec.channels])
    idx = np.array([i for i, c in enumerate(ch_names) if pattern.match(c)], dtype=np.int64)
    if not len(idx):
        raise ConfigError(
            f"inputs channels: group {spec.channels!r} ({pattern.pattern!r}) matches none of "
            f"{shown}"
        )
    return idx


def _window(spec: InputSpec, times: np.ndarray, sfreq: float) -> slice:
    tol = 0.01 / sfreq  # a hundredth of a sample: float times like -0.2 + 20/100
    first, last = float(times[0]), float(times[-1])
    epoch = f"the epoch ({first:.3f}..{last:.3f} s)"
    for name in ("tmin", "tmax"):
        value = getattr(spec, name)
        if value is not None and not first - tol <= value <= last + tol:
            raise ConfigError(f"inputs {name}: {value:g} s is outside {epoch}")
    lo = first if spec.tmin is None else spec.tmin
    hi = last if spec.tmax is None else spec.tmax
    inside = np.flatnonzero((times >= lo - tol) & (times <= hi + tol))
    if not len(inside):
        raise ConfigError(f"inputs window {lo:g}..{hi:g} s holds no sample of {epoch}")
    return slice(int(inside[0]), int(inside[-1]) + 1)


def resampled_length(n: int, factor: int) -> int:
    """Samples left of ``n`` by resampling down by ``factor`` (MNE's rounding of n / factor)."""
    return n if factor == 1 else max(int(round(n * (1.0 / factor))), 1)


def apply_inputs(array: np.ndarray, applied: AppliedInputs) -> np.ndarray:
    """``array`` (..., channels, times) with the channels kept, cropped, resampled; float32."""
    out = array
    if not applied.all_channels:
        out = out[..., applied.channel_idx, :]
    if not applied.full_window:
        out = out[..., applied.time_idx]
    if applied.spec.decimate > 1:
        out = _resample(out, applied.spec.decimate)
    return np.asarray(out, dtype=np.float32)


def _resample(array: np.ndarray, factor: int) -> np.ndarray:
    """FFT resampling down by ``factor`` along the last axis (docs/inputs.md).

    ``mne.filter.resample`` is linear in its input, so it is applied as its matrix: MNE run once
    on the n unit impulses, then one float64 product per chunk of rows (MNE itself transforms
    one row at a time). Output sample j is at the time of input sample j * factor.
    """
    from mne.filter import resample

    n = array.shape[-1]
    operator = resample(np.eye(n), down=factor, axis=-1, verbose=False)  # (n, n_out)
    rows = array.reshape(-1, n)
    out = np.empty((len(rows), operator.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), CHUNK_ROWS):
        out[start : start + CHUNK_ROWS] = (
            np.asarray(rows[start : start + CHUNK_ROWS], np.float64) @ operator
        )
    return out.reshape(*array.shape[:-1], out.shape[-1])
