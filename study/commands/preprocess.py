"""`study preprocess`: the raw THINGS-EEG2 release -> release-A files (the official pipeline)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from study.arguments import parse_subjects

OFFICIAL_SEED = 20200220  # as trainables.things_eeg2.preprocess.OFFICIAL_SEED (kept light here)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preprocess",
        help="preprocess the raw THINGS-EEG2 release with MNE (the official pipeline)",
        description=(
            "Epoch, resample, sort and MVNN-whiten RAW_DIR/sub-XX/ses-0Y/raw_eeg_*.npy one "
            "session at a time and write OUT_DIR/sub-XX/preprocessed_eeg_{training,test}.npy "
            "(release A) with a preprocessing.json provenance file. Finished subjects are "
            "skipped, interrupted ones resumed. See docs/preprocess.md."
        ),
    )
    parser.add_argument("--raw", type=Path, required=True, help="raw release folder (sub-XX/)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output EEG folder, e.g. <data root>/eeg"
    )
    parser.add_argument("--subjects", help="subject numbers and ranges (default: all in --raw)")
    parser.add_argument("--sfreq", type=float, default=100.0, help="output rate, Hz (default 100)")
    parser.add_argument(
        "--channels",
        default="posterior",
        help="posterior (names matching '^O *|^P *': the release's 17), all (63), or CH1,CH2,...",
    )
    parser.add_argument("--tmin", type=float, default=-0.2, help="epoch start, s (default -0.2)")
    parser.add_argument("--tmax", type=float, default=0.8, help="epoch end, s (default 0.8)")
    parser.add_argument(
        "--mvnn",
        choices=("epochs", "time", "none"),
        default="epochs",
        help="MVNN covariance per repetition (epochs, official default), per time point, or none",
    )
    parser.add_argument(
        "--mvnn-covariance",
        choices=("train", "train+test"),
        default="train",
        help="partitions the MVNN covariance is estimated on (official code: train+test)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=OFFICIAL_SEED,
        help=f"seed of the repetition order (default {OFFICIAL_SEED}, the official script's)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.preprocess import preprocess
    from trainables.things_eeg2.preprocess import PreprocessSettings

    settings = PreprocessSettings(
        sfreq=args.sfreq,
        channels=args.channels,
        tmin=args.tmin,
        tmax=args.tmax,
        mvnn=args.mvnn,
        mvnn_covariance=args.mvnn_covariance,
        seed=args.seed,
    )
    subjects = parse_subjects(args.subjects) if args.subjects else None
    start = time.perf_counter()
    done = preprocess(args.raw, args.out, subjects, settings)
    counts = {state: sum(1 for v in done.values() if v == state) for state in ("done", "skipped")}
    print(
        f"preprocessed {counts['done']} subject(s), {counts['skipped']} already up to date, "
        f"into {args.out} in {time.perf_counter() - start:.1f}s"
    )
    return 0
