"""What a `study synth` run writes: sizes, generative parameters, the run's configuration, and the
independent random streams every component draws from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from study.synth_options import DEFAULT_BACKBONES
from trainables.common.errors import ConfigError
from trainables.embedding.backbones import get_backbone
from trainables.things_eeg2.formats import FORMATS

GENERATOR = "study.synthetic"  # how synthetic.json and the stores' manifests name the generator
GENERATOR_VERSION = 2
MAX_SYNTH_SUBJECT = 99  # folders sub-01..sub-99
ALIGNED_PREFIX = "aligned_"


class Stream:
    """Ids of the independent random streams: ``default_rng([seed, Stream.X, ...])``."""

    NAMES, LATENT, TOPO, KERNEL, NOISE_COV, TRIALS, BACKBONE, IMAGES, RAW = range(9)


def stream_rng(seed: int, *stream: int) -> np.random.Generator:
    """The generator of one stream (a :class:`Stream` id, then component indices) of ``seed``."""
    return np.random.default_rng([seed, *stream])


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


@dataclass
class GenerativeParams:
    """Parameters of the generative model (see :mod:`study.synthetic.eeg_model` for the model)."""

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
    raw: bool = False  # write the raw release (raw/sub-XX/ses-0Y) instead of eeg/
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
