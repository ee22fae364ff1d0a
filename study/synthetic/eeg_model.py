"""The EEG forward model of the twin: one subject's single trials from the image latents.

The generative model (image latents, EEG, embeddings; every parameter with its default) is
documented once, in docs/synthetic-twin.md, section "The generative model".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from study.synthetic.params import GenerativeParams, Stream, stream_rng
from trainables.things_eeg2.formats import OSF_CHANNELS, EEGFormat

TRIALS_PER_CHUNK = 512
SIGNAL_WINDOW_S = (0.0, 0.8)  # signal_rms holds over this window on the OSF_CHANNELS


_CHANNEL_RE = re.compile(r"^(Fp|AF|FT|FC|TP|CP|PO|F|T|C|P|O)(z|\d+)$", re.IGNORECASE)
_ROW_Y = {"fp": 0.95, "af": 0.75, "f": 0.55, "ft": 0.3, "fc": 0.3, "t": 0.0, "c": 0.0,
          "tp": -0.3, "cp": -0.3, "p": -0.55, "po": -0.75, "o": -0.95}  # fmt: skip


def channel_positions(ch_names: Sequence[str]) -> np.ndarray:
    """Approximate 2-D scalp positions (head radius 1, nose at +y, right at +x) of 10-10 names."""
    positions = np.zeros((len(ch_names), 2))
    for i, name in enumerate(ch_names):
        match = _CHANNEL_RE.match(name)
        if not match:
            raise ValueError(f"not a 10-10 channel name: {name}")
        row, column = match.group(1).lower(), match.group(2).lower()
        y = _ROW_Y[row]
        if column == "z":
            x = 0.0
        else:
            number = int(column)
            side = -1.0 if number % 2 else 1.0
            if row in ("fp", "o"):
                x = side * 0.3
            else:
                x = side * ((number + 1) // 2) / 5.0 * np.sqrt(1.0 - 0.8 * y * y)
        positions[i] = (x, y)
    return positions


def _random_topographies(rng: np.random.Generator, positions: np.ndarray, k: int) -> np.ndarray:
    """``k`` smooth maps over the channels: two Gaussian blobs each, biased to posterior sites."""
    maps = np.zeros((k, len(positions)))
    for _ in range(2):
        centres = np.column_stack([rng.uniform(-0.8, 0.8, k), rng.uniform(-1.0, 0.1, k)])
        widths = rng.uniform(0.25, 0.5, k)
        weights = rng.standard_normal(k)
        dist2 = ((positions[None, :, :] - centres[:, None, :]) ** 2).sum(-1)
        maps += weights[:, None] * np.exp(-dist2 / (2 * widths[:, None] ** 2))
    return maps


def temporal_kernels(params: GenerativeParams, seed: int, times: np.ndarray) -> np.ndarray:
    """Kernels ``K_k(t)`` (latent_dim, len(times)): damped oscillations starting after onset."""
    rng = stream_rng(seed, Stream.KERNEL)
    k = params.latent_dim
    onset = rng.uniform(*params.kernel_onset_s, k)[:, None]
    freq = rng.uniform(*params.kernel_freq_hz, k)[:, None]
    tau = rng.uniform(*params.kernel_decay_s, k)[:, None]
    phase = rng.uniform(0, 2 * np.pi, k)[:, None]
    u = np.clip(times[None, :] - onset, 0.0, None)
    return (u / tau) * np.exp(1.0 - u / tau) * np.cos(2 * np.pi * freq * u + phase)


class SubjectModel:
    """One subject's forward model for one release format: latents -> single trials."""

    def __init__(self, params: GenerativeParams, seed: int, subject: int, fmt: EEGFormat) -> None:
        self.params = params
        self.seed = seed
        self.subject = subject
        self.fmt = fmt
        self.weights = self._forward_weights()  # (latent_dim, channels * samples)
        self.noise_mix = self._noise_mixing()  # (channels, channels)
        sigma = params.noise_smooth_s * fmt.sfreq
        impulse = np.zeros(8 * int(np.ceil(sigma)) + 9)
        impulse[len(impulse) // 2] = 1.0
        self.smooth_sigma = sigma
        self.smooth_gain = 1.0 / np.linalg.norm(gaussian_filter1d(impulse, sigma, mode="constant"))

    def _topographies(self, ch_names: Sequence[str]) -> np.ndarray:
        positions = channel_positions(ch_names)
        k = self.params.latent_dim
        shared = _random_topographies(stream_rng(self.seed, Stream.TOPO, 0), positions, k)
        own = _random_topographies(stream_rng(self.seed, Stream.TOPO, self.subject), positions, k)
        share = self.params.subject_topography_share
        return np.sqrt(1.0 - share) * shared + np.sqrt(share) * own

    def _forward_weights(self) -> np.ndarray:
        # Scale on the 17 posterior channels over 0..0.8 s so both formats carry the same signal.
        ref_times = np.arange(SIGNAL_WINDOW_S[0], SIGNAL_WINDOW_S[1], 0.004)
        ref = (
            self._topographies(OSF_CHANNELS)[:, :, None]
            * temporal_kernels(self.params, self.seed, ref_times)[:, None, :]
        )
        scale = self.params.signal_rms / np.sqrt((ref**2).sum(axis=0).mean())
        topo = self._topographies(self.fmt.ch_names) * scale
        kernels = temporal_kernels(self.params, self.seed, self.fmt.sample_times)
        return (topo[:, :, None] * kernels[:, None, :]).reshape(self.params.latent_dim, -1)

    def _noise_mixing(self) -> np.ndarray:
        positions = channel_positions(self.fmt.ch_names)
        rng = stream_rng(self.seed, Stream.NOISE_COV, self.subject)
        length = self.params.noise_spatial_scale * rng.uniform(0.8, 1.2)
        dist2 = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(-1)
        nugget = self.params.noise_nugget
        cov = (1.0 - nugget) * np.exp(-dist2 / (2 * length**2)) + nugget * np.eye(len(positions))
        return np.linalg.cholesky(cov + 1e-9 * np.eye(len(positions)))

    def trials(self, latents: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
        """Single trials float64 (n_images, reps, channels, samples) for the given latents."""
        n = len(latents)
        n_ch, n_t = len(self.fmt.ch_names), self.fmt.n_samples
        # Channel-major white noise so the spatial mixing is one matrix product.
        noise = rng.standard_normal((n_ch, n * reps, n_t), dtype=np.float32)
        if self.smooth_sigma > 0:
            gaussian_filter1d(noise, self.smooth_sigma, axis=-1, output=noise, mode="reflect")
        mixed = self.noise_mix.astype(np.float32) @ noise.reshape(n_ch, -1)
        del noise
        out = np.empty((n, reps, n_ch, n_t), dtype=np.float64)
        out[...] = mixed.reshape(n_ch, n, reps, n_t).transpose(1, 2, 0, 3)
        del mixed
        out *= self.params.noise_std * self.smooth_gain
        gain = 1.0 + self.params.amplitude_jitter * rng.standard_normal((n, reps, 1, 1))
        clean = (latents @ self.weights).reshape(n, n_ch, n_t)
        for rep in range(reps):
            out[:, rep] += gain[:, rep] * clean
        return out

    def chunks(self, latents: np.ndarray, reps: int, split: str) -> Iterator[np.ndarray]:
        """Trials in fixed-size chunks of images; each chunk has its own random stream."""
        per_chunk = max(1, TRIALS_PER_CHUNK // reps)
        split_id = 0 if split == "train" else 1
        for index, start in enumerate(range(0, len(latents), per_chunk)):
            rng = stream_rng(self.seed, Stream.TRIALS, self.subject, split_id, index)
            yield self.trials(latents[start : start + per_chunk], reps, rng)
