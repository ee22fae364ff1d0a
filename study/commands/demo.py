"""`study demo`: the whole tool on a synthetic twin, end to end (about 5 minutes on 2 CPU cores)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="synthesise data, sweep synclr vs aligned_synclr, train finals, write the report",
        description=(
            "Run the whole workflow on a small synthetic THINGS-EEG2 twin: `study synth`, a "
            "sweep of synclr and aligned_synclr, final training of each best config on a few "
            "subjects x seeds, and `study report`. Everything goes under --out."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("demo"), help="output folder")
    parser.add_argument(
        "--encoders",
        help="comma-separated EEG encoders to compare, e.g. nice_100hz,eegnet (each adds two "
        "cells, aligned and unaligned, with the same budget: the run takes about that much "
        "longer; default: NICE only)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a reduced pipeline (tiny data, 2 trials) in ~1-2 min"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from study.arguments import parse_names
    from study.demo import QUICK, DemoSettings, run_demo

    encoders = parse_names(args.encoders, flag="--encoders") if args.encoders else []
    settings = DemoSettings(out=args.out, encoders=encoders)
    if args.quick:
        settings = dataclasses.replace(settings, **QUICK)
    report = run_demo(settings)
    print(report.read_text())
    print(f"report: {report}")
    return 0
