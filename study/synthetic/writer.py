"""The tree writer: a complete synthetic THINGS-EEG2 folder in the real on-disk formats."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from study.synthetic.eeg_model import SubjectModel
from study.synthetic.embeddings import write_embedding_store
from study.synthetic.files import (
    EEG_DIR,
    EMBEDDINGS_DIR,
    IMAGES_DIR,
    RAW_DIR,
    SYNTH_MANIFEST,
    clear_previous_run,
    file_facts,
    make_parent_dirs,
)
from study.synthetic.images import (
    ImagePainter,
    ImageSet,
    image_metadata,
    make_image_sets,
    write_images,
)
from study.synthetic.params import GENERATOR, GENERATOR_VERSION, SCALES, SynthConfig
from study.synthetic.pickle_stream import LazyArray, dump_npy_object, dump_pickle
from study.synthetic.raw import raw_files, write_raw_subject
from trainables.common.atomic import atomic_write, save_json_atomic
from trainables.embedding.store import MANIFEST as STORE_MANIFEST
from trainables.embedding.store import SPLIT_FILES as STORE_FILES
from trainables.things_eeg2.formats import (
    CH_NAMES_KEY,
    EEG_DATA_KEY,
    EEG_FILES,
    FORMATS,
    METADATA_FILE,
    TIMES_KEY,
    EEGFormat,
    subject_folder,
)

logger = logging.getLogger(__name__)


def eeg_payload(model: SubjectModel, images: ImageSet, reps: int) -> dict[str, Any]:
    """The release dict of one subject and split, its data a LazyArray generated on demand."""
    fmt = model.fmt
    shape = (len(images.latents), reps, len(fmt.ch_names), fmt.n_samples)
    data = LazyArray(shape, np.float64, lambda: model.chunks(images.latents, reps, images.split))
    return {
        EEG_DATA_KEY: data,
        CH_NAMES_KEY: list(fmt.ch_names),
        TIMES_KEY: fmt.times,
    }


def write_eeg_file(path: Path, payload: dict[str, Any], fmt: EEGFormat) -> None:
    """Write one release file atomically in the container of ``fmt``, streaming the data."""
    dump = dump_npy_object if fmt.container == "npy" else dump_pickle

    def write(tmp: Path) -> None:
        with open(tmp, "wb", buffering=1 << 20) as fh:
            dump(payload, fh)

    atomic_write(path, write)


def planned_files(config: SynthConfig, sets: dict[str, ImageSet]) -> list[str]:
    """Every file a run of ``config`` writes, relative to --out (the list its manifest keeps)."""
    files = [f"{IMAGES_DIR}/{METADATA_FILE}"]
    if config.images:
        files += [
            f"{IMAGES_DIR}/{rel}" for images in sets.values() for rel in images.relative_paths()
        ]
    if config.raw:
        files += [f"{RAW_DIR}/{rel}" for s in config.subjects for rel in raw_files(s)]
    else:
        files += [
            f"{EEG_DIR}/{subject_folder(s)}/{name}"
            for s in config.subjects
            for name in EEG_FILES.values()
        ]
    store_files = (*STORE_FILES.values(), STORE_MANIFEST)
    files += [f"{EMBEDDINGS_DIR}/{b}/{name}" for b in config.backbones for name in store_files]
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
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "seed": config.seed,
        "scale": asdict(scale),
        "format": config.format,
        "subjects": config.subjects,
        "backbones": config.backbones,
        "images_written": config.images,
        "raw": config.raw,
        "shapes": {
            "train": [scale.n_train, scale.train_reps, len(fmt.ch_names), fmt.n_samples],
            "test": [scale.n_test, scale.test_reps, len(fmt.ch_names), fmt.n_samples],
        },
        "params": asdict(config.params),
        "files": files or {},
    }


def write_dataset(config: SynthConfig) -> Path:
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

    images_root = out / IMAGES_DIR
    images_root.mkdir(parents=True, exist_ok=True)
    meta = image_metadata(sets)
    atomic_write(images_root / METADATA_FILE, lambda tmp: _save_object(tmp, meta))
    if config.images:
        count = write_images(images_root, sets, ImagePainter(config.params, config.seed))
        logger.info("images: %d JPEGs under %s", count, images_root)

    reps = {"train": scale.train_reps, "test": scale.test_reps}
    for subject in config.subjects:
        if config.raw:
            latents = {split: sets[split].latents for split in ("train", "test")}
            write_raw_subject(out / RAW_DIR, subject, latents, config.params, config.seed)
            logger.info("raw eeg: %s (4 sessions)", subject_folder(subject))
            continue
        model = SubjectModel(config.params, config.seed, subject, fmt)
        for split, filename in EEG_FILES.items():
            path = out / EEG_DIR / subject_folder(subject) / filename
            write_eeg_file(path, eeg_payload(model, sets[split], reps[split]), fmt)
        logger.info("eeg: %s (%s)", subject_folder(subject), config.format)

    for backbone in config.backbones:
        write_embedding_store(out / EMBEDDINGS_DIR, backbone, sets, config)
        logger.info("embeddings: %s", backbone)
    save_json_atomic(out / SYNTH_MANIFEST, synth_manifest(config, True, file_facts(out, files)))
    return out


def _save_object(path: Path, obj: Any) -> None:
    """``np.save`` of a Python object (a 0-d object array), as the real metadata file is."""
    with open(path, "wb") as fh:
        np.save(fh, obj, allow_pickle=True)
