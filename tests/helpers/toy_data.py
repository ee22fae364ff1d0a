"""Small in-memory DecodingData with a planted latent structure shared by EEG and embeddings."""

from __future__ import annotations

import numpy as np

from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit


def toy_split(
    rng: np.random.Generator, n_images: int, n_subjects: int, channels: int, times: int, dim: int
) -> EvalSplit:
    """Images with latent codes; EEG = a fixed spatio-temporal pattern per latent plus noise."""
    latent_dim = 6
    mixing = np.random.default_rng(123).normal(size=(latent_dim, channels, times))
    projection = np.random.default_rng(456).normal(size=(latent_dim, dim))
    codes = rng.normal(size=(n_images, latent_dim))
    embeddings = codes @ projection + 0.1 * rng.normal(size=(n_images, dim))
    signal = np.einsum("nl,lct->nct", codes, mixing)
    eeg = np.stack([signal + rng.normal(size=signal.shape) for _ in range(n_subjects)])
    subjects = list(range(1, n_subjects + 1))
    return EvalSplit(eeg.astype(np.float32), embeddings.astype(np.float32), subjects)


def toy_data(
    *,
    n_train: int = 256,
    n_val: int = 64,
    n_test: int | None = None,
    n_subjects: int = 2,
    channels: int = 17,
    times: int = 100,
    dim: int = 24,
    sfreq: float = 100.0,
    seed: int = 0,
) -> DecodingData:
    rng = np.random.default_rng(seed)
    args = (n_subjects, channels, times, dim)
    return DecodingData(
        train=toy_split(rng, n_train, *args),
        val=toy_split(rng, n_val, *args) if n_val else None,
        test=toy_split(rng, n_test, *args) if n_test else None,
        backbone="toy",
        sfreq=sfreq,
        channels=[f"E{i}" for i in range(channels)],
    )
