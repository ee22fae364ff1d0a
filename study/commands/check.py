"""`study check`: validate a THINGS-EEG2 tree and print what a study would train on."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from trainables.common.errors import DataError

if TYPE_CHECKING:
    from trainables.things_eeg2.images import ImageList, ImageSet
    from trainables.things_eeg2.layout import DataLayout
    from trainables.things_eeg2.prepared_cache import PreparedEEG


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate a dataset folder and summarise it",
        description=(
            "Read every subject's EEG files (through the prepared cache), the image lists and the "
            "embedding stores of a THINGS-EEG2 folder; print a summary or fail with one line."
        ),
    )
    parser.add_argument("--data", type=Path, required=True, help="dataset root folder")
    parser.add_argument("--eeg-dir", type=Path, help="folder with sub-XX/ (default: detected)")
    parser.add_argument(
        "--images-dir", type=Path, help="folder with training_images/ (default: detected)"
    )
    parser.add_argument(
        "--embeddings-dir", type=Path, help="embedding stores (default: <data>/embeddings)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="prepared-array cache (default: <data>/.study-cache)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.synthetic import check_synth_complete
    from trainables.things_eeg2.formats import FORMAT_LABELS
    from trainables.things_eeg2.layout import find_layout
    from trainables.things_eeg2.loader import dataset_images
    from trainables.things_eeg2.prepared_cache import default_cache_dir

    check_synth_complete(args.data)
    layout = find_layout(
        args.data,
        eeg_dir=args.eeg_dir,
        images_dir=args.images_dir,
        embeddings_dir=args.embeddings_dir,
    )
    cache_dir = args.cache_dir or default_cache_dir(layout.root)
    _row("data root", str(layout.root))
    _row("eeg folder", str(layout.eeg_dir))
    images = dataset_images(layout)
    _row("images", _describe_images(images))
    _row("prepared cache", str(cache_dir))
    _row("subjects", ", ".join(f"sub-{s:02d}" for s in layout.subjects))
    prepared = _check_subjects(layout, images, cache_dir)
    ref = prepared[0]
    _row("format", FORMAT_LABELS.get(ref.format, ref.format))
    _row("channels", f"{len(ref.ch_names)}: {' '.join(ref.ch_names)}")
    _row(
        "sampling",
        f"{ref.sfreq:g} Hz, {len(ref.times)} samples, {ref.times[0]:.3f}..{ref.times[-1]:.3f} s",
    )
    bad = _check_stores(layout, images)
    if bad:
        raise DataError(
            f"{layout.embeddings_dir}: {len(bad)} embedding store(s) unusable with this dataset "
            f"({', '.join(bad)}); re-run `study embed` for them"
        )
    print("ok")
    return 0


def _row(label: str, value: str) -> None:
    print(f"{label + ':':<16}{value}", flush=True)


def _describe_split(images: ImageList) -> str:
    return f"{len(images)} {images.split} images of {images.n_concepts} concepts"


def _describe_images(images: ImageSet) -> str:
    return (
        f"{images.root} ({images.source}): {_describe_split(images.train)}, "
        f"{_describe_split(images.test)}; train/test concepts disjoint"
    )


def _check_subjects(layout: DataLayout, images: ImageSet, cache_dir: Path) -> list[PreparedEEG]:
    from trainables.things_eeg2.loader import check_consistent_axes, load_subject_split

    prepared: list[PreparedEEG] = []
    for subject in layout.subjects:
        parts = []
        for split, image_list in (("train", images.train), ("test", images.test)):
            p = load_subject_split(layout, subject, split, image_list, cache_dir)
            prepared.append(p)
            check_consistent_axes(prepared)
            state = "parsed, cached" if p.built else "from cache"
            parts.append(f"{split} {p.source_shape} ({state})")
        print(f"  sub-{subject:02d}  {'  '.join(parts)}", flush=True)
    return prepared


def _check_stores(layout: DataLayout, images: ImageSet) -> list[str]:
    """Print each store's status; return the names of stores that cannot be used."""
    from trainables.embedding.store import list_stores
    from trainables.things_eeg2.loader import load_dataset_store

    stores = list_stores(layout.embeddings_dir)
    _row("embeddings", f"{layout.embeddings_dir} ({len(stores) or 'no'} stores)")
    bad = []
    for backbone in stores:
        try:
            store = load_dataset_store(layout, backbone, images)
            status = f"dim {store.manifest.dim}, image lists match"
        except DataError as exc:
            bad.append(backbone)
            status = f"UNUSABLE: {str(exc).split(': ', 1)[-1]}"
        print(f"  {backbone:<20}{status}", flush=True)
    return bad
