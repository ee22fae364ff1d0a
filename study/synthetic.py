"""Synthetic twin of THINGS-EEG2: a documented generative model written in the real on-disk formats.

Generative model (parameter names are the fields of :class:`GenerativeParams`)
-------------------------------------------------------------------------------

Images. Every image ``i`` has a latent perceptual vector ``z_i`` of ``latent_dim`` dimensions::

    z_i = sqrt(concept_share) * c_concept(i) + sqrt(1 - concept_share) * d_i,   c, d ~ N(0, I)

so each latent dimension has unit variance and the images of one concept form a cluster.
Training and test concepts are disjoint draws (zero-shot test split, as in THINGS-EEG2). The
JPEGs are drawn from ``z_i`` (background colour and three coloured shapes are a fixed random
function of ``z_i``), so images of one concept look alike.

EEG. Subject ``s``'s response to repetition ``r`` of image ``i`` is::

    X[i, r, c, t] = g_ir * sum_k z_ik * A_s[k, c] * K_k(t) + noise_std * N_sir[c, t]

- ``A_s[k, c]`` (topographies): smooth functions of approximate 2-D scalp positions of the
  real 10-10 channels (sums of two Gaussian blobs, centres biased to parieto-occipital sites);
  ``A_s = sqrt(1 - subject_topography_share) * A_shared + sqrt(subject_topography_share) *
  A_subject``.
- ``K_k(t)`` (temporal response kernels, continuous in seconds, zero before onset): damped
  oscillations ``(u / tau) * exp(1 - u / tau) * cos(2 pi f u + phase)`` with ``u = t - onset``,
  onset in ``kernel_onset_s``, ``f`` in ``kernel_freq_hz``, ``tau`` in ``kernel_decay_s``.
- ``A`` is scaled so that the noiseless single-trial signal has RMS ``signal_rms`` over the
  17 posterior channels and 0..0.8 s (the same in both formats).
- ``g_ir = 1 + amplitude_jitter * N(0, 1)``: per-trial gain jitter.
- ``N_sir``: Gaussian noise, smoothed in time (Gaussian, sd ``noise_smooth_s`` seconds) and
  spatially correlated (covariance ``(1 - noise_nugget) * exp(-dist^2 / (2 l_s^2)) +
  noise_nugget * I`` with ``l_s`` = ``noise_spatial_scale`` times a per-subject factor in
  0.8..1.2), rescaled to unit variance. It is independent across trials, so it averages down
  over repetitions (4 training, 80 test) while the signal does not.

Embeddings. Backbone ``b`` with alignment share ``a_b`` (``aligned_share`` for names starting
``aligned_``, ``base_share`` otherwise) embeds image ``i`` as::

    e_bi = M_b @ (sqrt(a_b) * z_i + sqrt(1 - a_b) * W_b @ n_bi) + embedding_noise * eps_bi

with ``n_bi ~ N(0, I_nuisance_dim)`` nuisance features specific to the backbone and image,
``W_b`` a random Gaussian ``(latent_dim, nuisance_dim)`` matrix that mixes them INTO the
perceptual coordinates, and ``M_b`` a random Gaussian ``(dim_b, latent_dim)`` matrix. Because the
nuisance lies in the same subspace as ``z`` (not beside it), no projection of the embedding can
remove it: a backbone's image representation agrees with the perceptual latent the EEG carries
only up to its share ``a_b``. Aligned backbones are therefore easier to decode, by a margin set
by ``aligned_share - base_share``.

Everything is a deterministic function of ``seed``: each random component draws from its own
stream ``default_rng([seed, stream, ...])``, so subjects share the image latents but have their
own topographies and noise, and the EEG is generated in fixed-size chunks of trials (the stream
of a chunk depends only on its index), which lets full-scale files be written without holding
them in memory.
"""

from __future__ import annotations

import json
import pickle
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter1d

from study.synth_files import SYNTH_MANIFEST, clear_previous_run, file_facts, make_parent_dirs
from trainables.common.atomic import atomic_write, save_json_atomic
from trainables.common.errors import ConfigError, DataError
from trainables.embedding.backbones import get_backbone
from trainables.embedding.store import MANIFEST as STORE_MANIFEST
from trainables.embedding.store import SPLIT_FILES as STORE_FILES
from trainables.embedding.store import StoreManifest, image_list_hash, write_store

GENERATOR_VERSION = 2
MAX_SYNTH_SUBJECT = 99  # folders sub-01..sub-99

OSF_CHANNELS = [
    "Pz",
    "P3",
    "P7",
    "O1",
    "Oz",
    "O2",
    "P4",
    "P8",
    "P1",
    "P5",
    "PO7",
    "PO3",
    "POz",
    "PO4",
    "PO8",
    "P6",
    "P2",
]
NICE_CHANNELS = [
    "Fp1",
    "F3",
    "F7",
    "FT9",
    "FC5",
    "FC1",
    "C3",
    "T7",
    "TP9",
    "CP5",
    "CP1",
    "Pz",
    "P3",
    "P7",
    "O1",
    "Oz",
    "O2",
    "P4",
    "P8",
    "TP10",
    "CP6",
    "CP2",
    "Cz",
    "C4",
    "T8",
    "FT10",
    "FC6",
    "FC2",
    "F4",
    "F8",
    "Fp2",
    "AF7",
    "AF3",
    "AFz",
    "F1",
    "F5",
    "FT7",
    "FC3",
    "FCz",
    "C1",
    "C5",
    "TP7",
    "CP3",
    "P1",
    "P5",
    "PO7",
    "PO3",
    "POz",
    "PO4",
    "PO8",
    "P6",
    "P2",
    "CPz",
    "CP4",
    "TP8",
    "C6",
    "C2",
    "FC4",
    "FT8",
    "F6",
    "F2",
    "AF4",
    "AF8",
]

ALIGNED_PREFIX = "aligned_"
DEFAULT_BACKBONES = ("synclr", "aligned_synclr")

TRIALS_PER_CHUNK = 512
SIGNAL_WINDOW_S = (0.0, 0.8)

# Independent random streams: default_rng([seed, STREAM, ...]).
_NAMES, _LATENT, _TOPO, _KERNEL, _NOISE_COV, _TRIALS, _BACKBONE, _IMAGES = range(8)


@dataclass(frozen=True)
class Scale:
    """Dataset size: concepts per split, images per concept, repetitions, default subjects."""

    name: str
    n_train_concepts: int
    n_test_concepts: int
    default_subjects: int
    images_per_concept: int = 10
    train_reps: int = 4
    test_reps: int = 80

    @property
    def n_train(self) -> int:
        return self.n_train_concepts * self.images_per_concept

    @property
    def n_test(self) -> int:
        return self.n_test_concepts


SCALES = {
    "tiny": Scale("tiny", n_train_concepts=20, n_test_concepts=10, default_subjects=2),
    "small": Scale("small", n_train_concepts=300, n_test_concepts=50, default_subjects=3),
    "full": Scale("full", n_train_concepts=1654, n_test_concepts=200, default_subjects=10),
}


@dataclass(frozen=True)
class EEGFormat:
    """One preprocessed release: container, channels, and the `times` axis vs kept samples."""

    name: str
    container: str  # "npy" (np.save of a dict) or "pickle" (pickle.dump protocol 4)
    ch_names: tuple[str, ...]
    sfreq: float
    n_times_axis: int
    n_samples: int  # the data keeps the last n_samples entries of `times`

    @property
    def times(self) -> np.ndarray:
        return -0.2 + np.arange(self.n_times_axis) / self.sfreq

    @property
    def sample_times(self) -> np.ndarray:
        return self.times[-self.n_samples :]


FORMATS = {
    "osf": EEGFormat("osf", "npy", tuple(OSF_CHANNELS), 100.0, 100, 100),
    "nice": EEGFormat("nice", "pickle", tuple(NICE_CHANNELS), 250.0, 300, 250),
}


@dataclass
class GenerativeParams:
    """Parameters of the generative model (see the module docstring for the equations)."""

    latent_dim: int = 32
    concept_share: float = 0.6
    signal_rms: float = 0.1
    noise_std: float = 1.0
    noise_smooth_s: float = 0.01
    noise_spatial_scale: float = 0.35
    noise_nugget: float = 0.3
    amplitude_jitter: float = 0.3
    subject_topography_share: float = 0.5
    kernel_onset_s: tuple[float, float] = (0.05, 0.15)
    kernel_freq_hz: tuple[float, float] = (2.0, 10.0)
    kernel_decay_s: tuple[float, float] = (0.05, 0.2)
    nuisance_dim: int = 32
    aligned_share: float = 0.8
    base_share: float = 0.4
    embedding_noise: float = 0.05
    image_size: int = 64

    def validate(self) -> None:
        for name in ("concept_share", "aligned_share", "base_share", "subject_topography_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"generative parameter {name} must be in [0, 1], got {value}")
        if not 0.0 <= self.noise_nugget <= 1.0:
            raise ConfigError(f"noise_nugget must be in [0, 1], got {self.noise_nugget}")
        for name in ("latent_dim", "nuisance_dim", "image_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"generative parameter {name} must be >= 1")

    def alignment_share(self, backbone: str) -> float:
        return self.aligned_share if backbone.startswith(ALIGNED_PREFIX) else self.base_share


@dataclass
class SynthConfig:
    """What `study synth` writes: where, how big, which release format, subjects and backbones."""

    out: Path
    scale: str = "tiny"
    format: str = "osf"
    subjects: list[int] = field(default_factory=list)
    seed: int = 0
    backbones: list[str] = field(default_factory=lambda: list(DEFAULT_BACKBONES))
    images: bool = True
    params: GenerativeParams = field(default_factory=GenerativeParams)

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"unknown scale '{self.scale}' (choose from {', '.join(SCALES)})")
        if self.format not in FORMATS:
            raise ConfigError(f"unknown format '{self.format}' (choose from {', '.join(FORMATS)})")
        if not self.subjects:
            self.subjects = list(range(1, SCALES[self.scale].default_subjects + 1))
        outside = [s for s in self.subjects if not 1 <= s <= MAX_SYNTH_SUBJECT]
        if outside:
            raise ConfigError(
                f"--subjects: synthetic subjects are numbered 1..{MAX_SYNTH_SUBJECT}, "
                f"got {outside[0]}"
            )
        for backbone in self.backbones:
            backbone_dim(backbone)
        self.params.validate()


def backbone_dim(backbone: str) -> int:
    """Embedding dimension of a registered backbone, as in the real DreamSim models."""
    return get_backbone(backbone).dim


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


# ----------------------------------------------------------------------------- images


@dataclass
class ImageSet:
    """Concept folders, file names and latents of one split, in dataset (sorted) order."""

    split: str  # "train" or "test"
    folders: list[str]  # per image, e.g. "00001_aardvark"
    files: list[str]  # per image, e.g. "aardvark_01b.jpg"
    things: list[str]  # per image, THINGS numbering of the concept, e.g. "00010_aardvark"
    latents: np.ndarray  # float64 (n_images, latent_dim)

    @property
    def root_name(self) -> str:
        return "training_images" if self.split == "train" else "test_images"

    def relative_paths(self) -> list[str]:
        return [f"{self.root_name}/{d}/{f}" for d, f in zip(self.folders, self.files, strict=True)]


_ONSETS = [
    "b",
    "bl",
    "br",
    "ch",
    "cr",
    "d",
    "dr",
    "f",
    "fl",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pl",
    "pr",
    "r",
    "s",
    "sc",
    "sh",
    "sl",
    "st",
    "t",
    "tr",
    "v",
    "w",
    "z",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "t", "ck", "ng", "rd", "sh"]


def _pseudo_word(rng: np.random.Generator) -> str:
    syllables = int(rng.integers(1, 4))
    parts = [
        _ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
        for _ in range(syllables)
    ]
    return "".join(parts) + _CODAS[rng.integers(len(_CODAS))]


def concept_names(seed: int, count: int) -> list[str]:
    """``count`` distinct THINGS-like concept names (lowercase words, some with underscores)."""
    rng = _rng(seed, _NAMES)
    names: set[str] = set()
    while len(names) < count:
        word = _pseudo_word(rng)
        if rng.random() < 0.15:
            word = f"{word}_{_pseudo_word(rng)}"
        names.add(word)
    return sorted(names)


def make_image_sets(scale: Scale, params: GenerativeParams, seed: int) -> dict[str, ImageSet]:
    """Train and test image sets: names, real-style file names and concept-clustered latents."""
    n_concepts = scale.n_train_concepts + scale.n_test_concepts
    names = concept_names(seed, n_concepts)
    rng = _rng(seed, _LATENT)
    test_idx = np.sort(rng.choice(n_concepts, size=scale.n_test_concepts, replace=False))
    train_idx = np.setdiff1d(np.arange(n_concepts), test_idx)
    sets = {}
    for split, idx, per_concept in (
        ("train", train_idx, scale.images_per_concept),
        ("test", test_idx, 1),
    ):
        centres = rng.standard_normal((len(idx), params.latent_dim))
        deviations = rng.standard_normal((len(idx) * per_concept, params.latent_dim))
        latents = np.sqrt(params.concept_share) * np.repeat(centres, per_concept, axis=0)
        latents += np.sqrt(1.0 - params.concept_share) * deviations
        folders, files, things = [], [], []
        for position, concept in enumerate(idx):
            name = names[concept]
            folder = f"{position + 1:05d}_{name}"
            numbers = np.sort(rng.choice(np.arange(1, 13), size=per_concept, replace=False))
            letters = rng.choice(list("bns"), size=per_concept)
            for number, letter in zip(numbers, letters, strict=True):
                folders.append(folder)
                files.append(f"{name}_{number:02d}{letter}.jpg")
                things.append(f"{concept + 1:05d}_{name}")
        sets[split] = ImageSet(split, folders, files, things, latents)
    return sets


def image_metadata(sets: dict[str, ImageSet]) -> dict[str, list[str]]:
    """The ``image_metadata.npy`` dict of the real release (lists, one entry per image)."""
    meta: dict[str, list[str]] = {}
    for split, images in sets.items():
        meta[f"{split}_img_concepts"] = list(images.folders)
        meta[f"{split}_img_concepts_THINGS"] = list(images.things)
        meta[f"{split}_img_files"] = list(images.files)
    return meta


class ImagePainter:
    """Draws a JPEG from a latent: background colour and three shapes, a fixed function of z."""

    N_SHAPES = 3
    PER_SHAPE = 7  # kind, cx, cy, size, r, g, b

    def __init__(self, params: GenerativeParams, seed: int) -> None:
        n_out = 3 + self.N_SHAPES * self.PER_SHAPE
        self.projection = _rng(seed, _IMAGES).standard_normal((n_out, params.latent_dim))
        self.projection /= np.sqrt(params.latent_dim) / 1.5
        self.size = params.image_size

    def draw(self, z: np.ndarray) -> Image.Image:
        values = 1.0 / (1.0 + np.exp(-(self.projection @ z)))
        background = tuple(int(v * 255) for v in values[:3])
        image = Image.new("RGB", (self.size, self.size), background)
        draw = ImageDraw.Draw(image)
        for k in range(self.N_SHAPES):
            kind, cx, cy, size, *rgb = values[3 + k * self.PER_SHAPE : 3 + (k + 1) * self.PER_SHAPE]
            half = (0.1 + 0.3 * size) * self.size
            x, y = cx * self.size, cy * self.size
            box = (x - half, y - half, x + half, y + half)
            colour = tuple(int(v * 255) for v in rgb)
            if kind < 0.5:
                draw.ellipse(box, fill=colour)
            else:
                draw.rectangle(box, fill=colour)
        return image


def write_images(images_root: Path, sets: dict[str, ImageSet], painter: ImagePainter) -> int:
    """Write every image of every split as a JPEG under the real folder layout; returns count."""
    count = 0
    for images in sets.values():
        for rel, z in zip(images.relative_paths(), images.latents, strict=True):
            path = images_root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            painter.draw(z).save(path, format="JPEG", quality=90)
            count += 1
    return count


# ----------------------------------------------------------------------------- EEG model


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
    rng = _rng(seed, _KERNEL)
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
        shared = _random_topographies(_rng(self.seed, _TOPO, 0), positions, k)
        own = _random_topographies(_rng(self.seed, _TOPO, self.subject), positions, k)
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
        rng = _rng(self.seed, _NOISE_COV, self.subject)
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
            rng = _rng(self.seed, _TRIALS, self.subject, split_id, index)
            yield self.trials(latents[start : start + per_chunk], reps, rng)


# ----------------------------------------------------------------------------- streaming pickles


class _StreamedBytes:
    """Stands for a bytes object of known length whose content comes from an iterator."""

    def __init__(self, nbytes: int, chunks: Callable[[], Iterator[np.ndarray]]) -> None:
        self.nbytes = nbytes
        self.chunks = chunks


class LazyArray:
    """An array pickled like ``numpy.ndarray`` but produced chunk by chunk along axis 0."""

    def __init__(
        self, shape: tuple[int, ...], dtype: np.dtype, chunks: Callable[[], Iterator[np.ndarray]]
    ) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.chunks = chunks

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def _checked(self) -> Iterator[np.ndarray]:
        for chunk in self.chunks():
            if chunk.dtype != self.dtype or chunk.shape[1:] != self.shape[1:]:
                raise ValueError(f"chunk {chunk.dtype} {chunk.shape} does not fit {self.shape}")
            yield np.ascontiguousarray(chunk)

    def reduce(self) -> tuple[Any, ...]:
        func, args, state = np.empty(0, dtype=self.dtype).__reduce_ex__(4)
        version, _, dtype, fortran, _ = state
        return (
            func,
            args,
            (version, self.shape, dtype, fortran, _StreamedBytes(self.nbytes, self._checked)),
        )


class _StreamingPickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pure-Python pickler that writes :class:`LazyArray` payloads straight to the file.

    It reuses the standard library's pure-Python pickler (its framer and ``save_bytes``), so
    the output is byte-identical to ``pickle.dump(..., protocol=4)`` of the materialised array;
    tests pin that equality.
    """

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, LazyArray):
            return obj.reduce()
        return NotImplemented

    def _save_streamed(self, obj: _StreamedBytes) -> None:
        n = obj.nbytes
        framer = self.framer
        if n < framer._FRAME_SIZE_TARGET:  # small: exactly what pickle does with the bytes
            data = b"".join(memoryview(chunk).cast("B") for chunk in obj.chunks())
            if len(data) != n:
                raise ValueError(f"streamed {len(data)} bytes, declared {n}")
            self.save_bytes(data)
            return
        if n > 0xFFFFFFFF:
            header = pickle.BINBYTES8 + n.to_bytes(8, "little")
        else:
            header = pickle.BINBYTES + n.to_bytes(4, "little")
        if framer.current_frame:
            framer.commit_frame(force=True)
        framer.file_write(header)
        written = 0
        for chunk in obj.chunks():
            framer.file_write(memoryview(chunk).cast("B"))
            written += chunk.nbytes
        if written != n:
            raise ValueError(f"streamed {written} bytes, declared {n}")
        self.memoize(obj)

    dispatch[_StreamedBytes] = _save_streamed


def dump_pickle(payload: Any, fh: BinaryIO) -> None:
    """``pickle.dump(payload, fh, protocol=4)`` where LazyArray values are streamed."""
    _StreamingPickler(fh, protocol=4).dump(payload)


def dump_npy_object(payload: Any, fh: BinaryIO) -> None:
    """``np.save(fh, payload)`` of a Python object (0-d object array), LazyArrays streamed."""
    holder = np.empty((), dtype=object)
    holder[()] = payload
    np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(holder))
    dump_pickle(holder, fh)


def eeg_payload(model: SubjectModel, images: ImageSet, reps: int) -> dict[str, Any]:
    """The release dict of one subject and split, its data a LazyArray generated on demand."""
    fmt = model.fmt
    shape = (len(images.latents), reps, len(fmt.ch_names), fmt.n_samples)
    data = LazyArray(shape, np.float64, lambda: model.chunks(images.latents, reps, images.split))
    return {
        "preprocessed_eeg_data": data,
        "ch_names": list(fmt.ch_names),
        "times": fmt.times,
    }


def write_eeg_file(path: Path, payload: dict[str, Any], fmt: EEGFormat) -> None:
    """Write one release file atomically in the container of ``fmt``, streaming the data."""
    dump = dump_npy_object if fmt.container == "npy" else dump_pickle

    def write(tmp: Path) -> None:
        with open(tmp, "wb", buffering=1 << 20) as fh:
            dump(payload, fh)

    atomic_write(path, write)


EEG_FILES = {"train": "preprocessed_eeg_training.npy", "test": "preprocessed_eeg_test.npy"}


# ----------------------------------------------------------------------------- embeddings


def backbone_embeddings(
    backbone: str, sets: dict[str, ImageSet], params: GenerativeParams, seed: int
) -> dict[str, np.ndarray]:
    """Embeddings ``M_b (sqrt(a) z + sqrt(1-a) W_b n_b) + noise`` per split, float32 (n, dim)."""
    dim = backbone_dim(backbone)
    share = params.alignment_share(backbone)
    rng = _rng(seed, _BACKBONE, zlib.crc32(backbone.encode()))
    mixing = rng.standard_normal((dim, params.latent_dim)) / np.sqrt(params.latent_dim)
    nuisance_map = rng.standard_normal((params.latent_dim, params.nuisance_dim))
    nuisance_map /= np.sqrt(params.nuisance_dim)
    out = {}
    for split in ("train", "test"):
        z = sets[split].latents
        nuisance = rng.standard_normal((len(z), params.nuisance_dim)) @ nuisance_map.T
        features = np.sqrt(share) * z + np.sqrt(1.0 - share) * nuisance
        noise = params.embedding_noise * rng.standard_normal((len(z), dim))
        out[split] = (features @ mixing.T + noise).astype(np.float32)
    return out


def write_embedding_store(
    root: Path, backbone: str, sets: dict[str, ImageSet], config: SynthConfig
) -> Path:
    embeddings = backbone_embeddings(backbone, sets, config.params, config.seed)
    manifest = StoreManifest(
        backbone=backbone,
        dim=backbone_dim(backbone),
        n_train=len(sets["train"].latents),
        n_test=len(sets["test"].latents),
        image_list_sha256={s: image_list_hash(sets[s].relative_paths()) for s in ("train", "test")},
        source={
            "model": "SYNTHETIC (study synth generative model, no image model was run)",
            "generator": "study.synthetic",
            "generator_version": GENERATOR_VERSION,
            "seed": config.seed,
            "alignment_share": config.params.alignment_share(backbone),
            "params": asdict(config.params),
        },
        preprocessing="synthetic: computed from image latents, no pixels read",
        normalisation="none",
    )
    return write_store(root, manifest, embeddings["train"], embeddings["test"])


# ----------------------------------------------------------------------------- the tree


def planned_files(config: SynthConfig, sets: dict[str, ImageSet]) -> list[str]:
    """Every file a run of ``config`` writes, relative to --out (the list its manifest keeps)."""
    files = ["images/image_metadata.npy"]
    if config.images:
        files += [f"images/{rel}" for images in sets.values() for rel in images.relative_paths()]
    files += [f"eeg/sub-{s:02d}/{name}" for s in config.subjects for name in EEG_FILES.values()]
    store_files = (*STORE_FILES.values(), STORE_MANIFEST)
    files += [f"embeddings/{b}/{name}" for b in config.backbones for name in store_files]
    return list(dict.fromkeys(files))


def synth_manifest(
    config: SynthConfig, complete: bool, files: dict[str, dict[str, int] | None] | None = None
) -> dict[str, Any]:
    """The synthetic.json of a run; ``files`` maps each written file to its size and mtime_ns."""
    scale = SCALES[config.scale]
    fmt = FORMATS[config.format]
    return {
        "synthetic": True,
        "complete": complete,
        "generator": "study.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": config.seed,
        "scale": asdict(scale),
        "format": config.format,
        "subjects": config.subjects,
        "backbones": config.backbones,
        "images_written": config.images,
        "shapes": {
            "train": [scale.n_train, scale.train_reps, len(fmt.ch_names), fmt.n_samples],
            "test": [scale.n_test, scale.test_reps, len(fmt.ch_names), fmt.n_samples],
        },
        "params": asdict(config.params),
        "files": files or {},
    }


def write_dataset(config: SynthConfig, log: Callable[[str], None] = lambda _: None) -> Path:
    """Write the complete synthetic THINGS-EEG2 tree described by ``config``; returns its root."""
    out = Path(config.out)
    clear_previous_run(out)
    scale = SCALES[config.scale]
    fmt = FORMATS[config.format]
    sets = make_image_sets(scale, config.params, config.seed)
    files = planned_files(config, sets)
    out.mkdir(parents=True, exist_ok=True)
    save_json_atomic(out / SYNTH_MANIFEST, synth_manifest(config, False, dict.fromkeys(files)))
    make_parent_dirs(out, files)

    images_root = out / "images"
    images_root.mkdir(parents=True, exist_ok=True)
    meta = image_metadata(sets)
    atomic_write(images_root / "image_metadata.npy", lambda tmp: _save_object(tmp, meta))
    if config.images:
        count = write_images(images_root, sets, ImagePainter(config.params, config.seed))
        log(f"images: {count} JPEGs under {images_root}")

    reps = {"train": scale.train_reps, "test": scale.test_reps}
    for subject in config.subjects:
        model = SubjectModel(config.params, config.seed, subject, fmt)
        for split, filename in EEG_FILES.items():
            path = out / "eeg" / f"sub-{subject:02d}" / filename
            write_eeg_file(path, eeg_payload(model, sets[split], reps[split]), fmt)
        log(f"eeg: sub-{subject:02d} ({config.format})")

    for backbone in config.backbones:
        write_embedding_store(out / "embeddings", backbone, sets, config)
        log(f"embeddings: {backbone}")
    save_json_atomic(out / SYNTH_MANIFEST, synth_manifest(config, True, file_facts(out, files)))
    return out


def _save_object(path: Path, obj: Any) -> None:
    """``np.save`` of a Python object (a 0-d object array), as the real metadata file is."""
    with open(path, "wb") as fh:
        np.save(fh, obj, allow_pickle=True)


def read_synth_manifest(root: Path) -> dict[str, Any] | None:
    """The synthetic.json of a tree (for reports' "synthetic data" banner), or None if real data."""
    path = Path(root) / SYNTH_MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def check_synth_complete(root: Path) -> None:
    """DataError if ``root`` is a synthetic tree whose `study synth` run did not finish."""
    path = Path(root) / SYNTH_MANIFEST
    if not path.is_file():
        return
    try:
        complete = json.loads(path.read_bytes()).get("complete")
    except (OSError, ValueError, AttributeError):
        complete = None
    if complete is not True:
        raise DataError(
            f"{path}: incomplete synthetic dataset (its `study synth` run did not finish, or this "
            f"file is damaged); write it again with `study synth --out {root}`"
        )
