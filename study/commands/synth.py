"""`study synth`: write a synthetic THINGS-EEG2 twin (EEG, images, metadata, embedding stores)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from study.arguments import parse_names, parse_subjects
from study.synth_options import DEFAULT_BACKBONES, FORMAT_NAMES, SCALE_NAMES
from trainables.common.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic THINGS-EEG2 dataset in the real on-disk formats",
        description=(
            "Write a complete synthetic THINGS-EEG2 tree (eeg/sub-XX, images/, image_metadata.npy, "
            "embeddings/<backbone>/) from a documented generative model, deterministic in --seed."
        ),
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    parser.add_argument("--scale", choices=sorted(SCALE_NAMES), default="tiny", help="dataset size")
    parser.add_argument(
        "--format",
        choices=sorted(FORMAT_NAMES),
        default="osf",
        help="osf: 17 ch, 100 Hz, np.save dict; nice: 63 ch, 250 Hz, raw pickle",
    )
    parser.add_argument(
        "--subjects",
        default=None,
        help="subject numbers and ranges, e.g. 1-3,5 (default: 2 tiny, 3 small, 10 full)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of every component")
    parser.add_argument(
        "--backbones",
        default=",".join(DEFAULT_BACKBONES),
        help="comma-separated backbones to write embedding stores for ('' for none)",
    )
    parser.add_argument(
        "--no-images",
        dest="images",
        action="store_false",
        help="skip the JPEGs (image_metadata.npy is still written)",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="write the raw release instead (raw/sub-XX/ses-0Y/raw_eeg_*.npy, 1000 Hz, 63 ch + "
        "stim) for `study preprocess --raw DIR/raw --out DIR/eeg`; --format is then unused",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.synthetic import SynthConfig, write_dataset
    from trainables.training.config import INT64_MAX

    if not 0 <= args.seed <= INT64_MAX:
        raise ConfigError(f"--seed must be in 0..{INT64_MAX}, got {args.seed}")
    config = SynthConfig(
        out=args.out,
        scale=args.scale,
        format=args.format,
        subjects=parse_subjects(args.subjects) if args.subjects else [],
        seed=args.seed,
        backbones=list(dict.fromkeys(parse_names(args.backbones))),
        images=args.images,
        raw=args.raw,
    )
    start = time.perf_counter()
    root = write_dataset(config)
    subjects = ",".join(str(s) for s in config.subjects)
    kind = "raw" if config.raw else config.format
    print(
        f"wrote synthetic THINGS-EEG2 ({config.scale}, {kind}, subjects {subjects}, "
        f"seed {config.seed}) to {root} in {time.perf_counter() - start:.1f}s"
    )
    return 0
