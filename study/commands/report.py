"""`study report`: tables, statistics, figures and the protocol of a finished study.

The reports package (matplotlib, scipy, optuna) is imported when the command runs, not when
the CLI builds its parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reports.study_results import StudyResults
    from reports.tables import BestTrial

DEFAULT_STORAGE = Path("studies")
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
    parser.add_argument("--name", required=True, help="study name (folder under --storage)")
    parser.add_argument(
        "--storage",
        type=Path,
        default=DEFAULT_STORAGE,
        help="folder holding studies (default: ./studies)",
    )
    parser.add_argument(
        "--out", type=Path, help=f"output folder (default: <storage>/<name>/{REPORT_DIR})"
    )
    parser.set_defaults(func=run)


def importances(results: StudyResults, best: list[BestTrial]) -> dict[str, dict[str, float]]:
    """Each backbone's parameter importances (backbones with too few trials are left out)."""
    from reports.importance import param_importances

    out = {}
    for b in best:
        values = param_importances(
            results.spec.spaces.get(b.backbone, {}),
            results.trials[b.backbone],
            results.objective,
            results.mode,
        )
        if values:
            out[b.backbone] = values
    return out


def generate_report(results: StudyResults, out_dir: Path) -> tuple[str, list[Path]]:
    """Write every table, figure and format of the report; return (Markdown, files written)."""
    from reports.figures import write_figures
    from reports.importance import EVALUATOR
    from reports.protocol import protocol_table, synthetic_banner
    from reports.render import write_report
    from reports.tables import best_trials, build_tables, importance_table

    out_dir = Path(out_dir)
    best = best_trials(results)
    tables = build_tables(results, best)
    weights = importances(results, best)
    if weights:
        tables.append(importance_table(weights, EVALUATOR))
    tables.append(protocol_table(results))
    figures = write_figures(results, best, weights, out_dir / "figures")
    banner = synthetic_banner(results)
    markdown, files = write_report(
        out_dir, f"Study report: {results.spec.name}", tables, banner, figures
    )
    return markdown, files + figures


def run(args: argparse.Namespace) -> int:
    from reports.study_results import load_study

    results = load_study(args.storage, args.name)
    out_dir = args.out if args.out is not None else results.study_dir / REPORT_DIR
    markdown, files = generate_report(results, out_dir)
    print(markdown)
    print(f"report written to {Path(out_dir).resolve()} ({len(files)} files)")
    return 0
