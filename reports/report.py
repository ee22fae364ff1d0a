"""The whole report of a study: tables, importances, protocol, figures, every output format."""

from __future__ import annotations

from pathlib import Path

from reports.figures import write_figures
from reports.importance import EVALUATOR, Importances, param_importances
from reports.protocol import protocol_table, synthetic_banner
from reports.render import claim_out_dir, finish_out_dir, write_report
from reports.rsa import rsa_section
from reports.tables import build_tables, importance_table
from study.results import BestTrial, StudyResults, best_trials, data_roots


def importances(results: StudyResults, best: list[BestTrial]) -> dict[str, Importances]:
    """Each backbone's parameter importances (backbones with no tuned parameter are left out)."""
    out = {}
    for b in best:
        values = param_importances(
            results.spec.spaces.get(b.backbone, {}),
            results.trials[b.backbone],
            results.objective,
            results.mode,
        )
        if values is not None:
            out[b.backbone] = values
    return out


def generate_report(results: StudyResults, out_dir: Path) -> tuple[str, list[Path]]:
    """Write every table, figure and format of the report; return (Markdown, files written).

    ``out_dir`` must be new, empty or a report folder written before (see ``claim_out_dir``).
    """
    out_dir = Path(out_dir)
    best = best_trials(results)
    tables = build_tables(results, best)
    computed = importances(results, best)
    if computed:
        tables.append(importance_table(computed, EVALUATOR))
    previous = claim_out_dir(out_dir)
    weights = {b: result.values for b, result in computed.items() if result.values is not None}
    figures = write_figures(results, best, weights, out_dir / "figures")
    roots = data_roots(results.spec, results.final)  # the final's root holds the test EEG
    rsa = (
        rsa_section(roots[-1], results.spec.backbones, out_dir, results.spec.data.cache_dir)
        if roots
        else None
    )
    if rsa is not None:  # the decoder-free control, next to the decoding results
        tables += rsa.tables
        figures.append(rsa.figure)
    tables.append(protocol_table(results))
    banner = synthetic_banner(results)
    markdown, files = write_report(
        out_dir, f"Study report: {results.spec.name}", tables, banner, figures
    )
    written = files + figures
    return markdown, [*written, finish_out_dir(out_dir, written, previous)]
