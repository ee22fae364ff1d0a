"""`study report`: tables, statistics, figures and the protocol of a finished study.

The reports package (matplotlib, scipy, optuna) is imported when the command runs, not when
the CLI builds its parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from study.commands.sweep import add_storage_arguments

REPORT_DIR = "report"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="tables, paired statistics and figures of a study",
        description=(
            "Read a study's sweeps (and final runs, if any) from disk, print the report as "
            "Markdown, and write it as Markdown, CSV, LaTeX, JSON and PNG figures."
        ),
    )
    add_storage_arguments(parser)
    parser.add_argument(
        "--out", type=Path, help=f"output folder (default: <storage>/<name>/{REPORT_DIR})"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reports.report import generate_report
    from study.results import load_study

    results = load_study(args.storage, args.name)
    out_dir = args.out if args.out is not None else results.study_dir / REPORT_DIR
    markdown, files = generate_report(results, out_dir)
    print(markdown)
    print(f"report written to {Path(out_dir).resolve()} ({len(files)} files)")
    return 0
