"""`study rsa`: the decoder-free control - RSA of each backbone's test embeddings with the EEG.

numpy is imported when the command runs, scipy and matplotlib once the RSA is computed (a bad
input fails before), never when the CLI builds its parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from study.arguments import parse_names, parse_subjects
from trainables.common.errors import ConfigError

DISTANCE_CHOICES = ("correlation", "cosine")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rsa",
        help="RSA of image embeddings and test EEG over time, per backbone (no training)",
        description=(
            "Representational similarity analysis over the test images: the Spearman correlation "
            "of each backbone's image RDM with each subject's EEG RDM per time window, and the "
            "EEG's noise ceiling over subjects. Writes rsa.json, rsa.csv, rsa_noise_ceiling.csv "
            "and rsa_over_time.png under --out and prints the peak RSA per backbone."
        ),
    )
    parser.add_argument("--data", type=Path, required=True, help="dataset root folder")
    parser.add_argument(
        "--backbones",
        required=True,
        help="comma-separated embedding stores, e.g. synclr,aligned_synclr",
    )
    parser.add_argument("--subjects", help="subject numbers and ranges, e.g. 1-3,5 (default: all)")
    parser.add_argument(
        "--window", type=float, help="window width in seconds (default: one sample)"
    )
    parser.add_argument(
        "--step", type=float, help="seconds between window starts (default: one sample)"
    )
    parser.add_argument(
        "--image-distance",
        choices=DISTANCE_CHOICES,
        default="correlation",
        help="image RDM: 1 - Pearson correlation (default) or 1 - cosine similarity",
    )
    parser.add_argument(
        "--eeg-distance",
        choices=DISTANCE_CHOICES,
        default="correlation",
        help="EEG RDM: 1 - Pearson correlation (default) or 1 - cosine similarity",
    )
    parser.add_argument(
        "--embeddings-dir", type=Path, help="embedding stores (default: <data>/embeddings)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="prepared-array cache (default: <data>/.study-cache)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("rsa"), help="output folder (default: ./rsa)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainables.analysis.rsa import RsaSettings
    from trainables.analysis.rsa_run import run_rsa

    backbones = parse_names(args.backbones)
    if not backbones:
        raise ConfigError("--backbones names no backbone")
    subjects = parse_subjects(args.subjects) if args.subjects is not None else None
    settings = RsaSettings(
        window_s=args.window,
        step_s=args.step,
        image_distance=args.image_distance,
        eeg_distance=args.eeg_distance,
    )
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"{args.out}: expected an output folder (--out), found a file")
    result = run_rsa(
        args.data,
        backbones,
        settings,
        subjects,
        args.cache_dir,
        embeddings_dir=args.embeddings_dir,
    )
    from reports.rsa import summary_text, write_rsa  # matplotlib, scipy: once there is a result
    from study.results import read_synthetic_manifest

    synthetic = read_synthetic_manifest(args.data)
    written = write_rsa(result, args.out, synthetic)
    print(summary_text(result, synthetic))
    print(f"rsa written to {args.out.resolve()} ({len(written)} files)")
    return 0
