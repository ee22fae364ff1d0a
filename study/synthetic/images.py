"""Images of the twin: THINGS-like concept names and file names, concept-clustered latents, the
``image_metadata.npy`` dict, and JPEGs drawn from the latents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from study.synthetic.params import GenerativeParams, Scale, Stream, stream_rng
from trainables.things_eeg2.formats import IMAGE_SPLIT_FOLDERS, METADATA_KEYS


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
        return IMAGE_SPLIT_FOLDERS[self.split]

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
    rng = stream_rng(seed, Stream.NAMES)
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
    rng = stream_rng(seed, Stream.LATENT)
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
        keys = METADATA_KEYS[split]
        meta[keys.concepts] = list(images.folders)
        meta[keys.concepts_things] = list(images.things)
        meta[keys.files] = list(images.files)
    return meta


class ImagePainter:
    """Draws a JPEG from a latent: background colour and three shapes, a fixed function of z."""

    N_SHAPES = 3
    PER_SHAPE = 7  # kind, cx, cy, size, r, g, b

    def __init__(self, params: GenerativeParams, seed: int) -> None:
        n_out = 3 + self.N_SHAPES * self.PER_SHAPE
        self.projection = stream_rng(seed, Stream.IMAGES).standard_normal(
            (n_out, params.latent_dim)
        )
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
