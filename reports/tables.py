"""The report's tables: best sweep trials, final test accuracy, per subject, aligned vs not."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from reports.stats import WILCOXON_MIN_N, paired_difference
from study.results import (
    BestTrial,
    FinalResults,
    FinalRun,
    StudyResults,
    cell_key,
    parse_cell_key,
    unaligned_base,
)
from trainables.models.ranking import TOP_KS, top_k_hits

if TYPE_CHECKING:
    from reports.importance import Importances

PCT = "{:.1%}"
DIFF = "{:+.1%}"


@dataclass
class Table:
    """Rows of raw values; ``formats`` says how Markdown/LaTeX print a column (CSV/JSON: raw)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    formats: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def cell(self, column: str, value: Any) -> str:
        """``value`` as printed in Markdown/LaTeX: formatted numbers, '-' for missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if (
            column in self.formats
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return self.formats[column].format(value)
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)


def tuned_params(results: StudyResults) -> list[str]:
    """Names of the searched TrainConfig fields, over all backbones' resolved spaces."""
    names = {name for space in results.spec.spaces.values() for name in space.get("params", {})}
    return sorted(names)


def best_trials_table(results: StudyResults, best: list[BestTrial]) -> Table:
    params = tuned_params(results)
    metrics = [f"val_top{k}" for k in TOP_KS]
    columns = ["backbone", "trial", results.objective, *metrics, "val_chance_top1"]
    columns += ["best_epoch", "epochs_trained", "trials_run", "finished", "errored", *params]
    columns = list(dict.fromkeys(columns))
    rows = []
    for b in best:
        values: dict[str, Any] = {
            "backbone": b.backbone,
            "trial": b.trial.trial_id if b.trial else None,
            "best_epoch": _int(b.row.get("training_iteration")),
            "epochs_trained": b.trial.epochs if b.trial else None,
            "trials_run": b.trials_run,
            "finished": b.trials_finished,
            "errored": b.trials_errored,
        }
        for name in [results.objective, *metrics, "val_chance_top1"]:
            values[name] = _float(b.row.get(name))
        for name in params:
            values[name] = b.config.get(name)
        rows.append([values[c] for c in columns])
    formats = {m: PCT for m in [*metrics, "val_chance_top1"]}
    if results.objective == "val_loss":
        formats["val_loss"] = "{:.4f}"
    return Table(
        key="best_trials",
        title=f"Best sweep trial per backbone (by {results.objective}, {results.mode})",
        columns=columns,
        rows=rows,
        formats=formats | {p: "{:.4g}" for p in params},
        notes=[
            "Validation metrics are those of the best trial's best epoch (best_epoch); "
            "epochs_trained counts the epochs that trial ran before it ended or was stopped.",
            "The test split is never used for selection.",
        ],
    )


def best_configs_table(best: list[BestTrial]) -> Table:
    """Every config field of each cell's best trial: one row per field, one column each (an
    encoder's settings only where that encoder trained)."""
    fields = list(dict.fromkeys(name for b in best for name in b.config if _shown(name, b)))
    return Table(
        key="best_configs",
        title="Configuration of each backbone's best trial",
        columns=["field", *[b.backbone for b in best]],
        rows=[[name, *[b.config.get(name) for b in best]] for name in fields],
    )


def _shown(name: str, best: BestTrial) -> bool:
    """Whether config entry ``name`` concerns ``best``'s run: not another encoder's setting."""
    section, dot, _ = name.partition(".")
    return not dot or section == best.config.get("model")


def _int(value: Any) -> int | None:
    return None if value is None or not np.isfinite(value) else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def run_values(runs: list[FinalRun], metric: str) -> np.ndarray:
    return np.array([float(run.metrics[metric]) for run in runs], dtype=np.float64)


def subject_means(runs: list[FinalRun], metric: str) -> dict[int, float]:
    """Each subject's ``metric`` averaged over its seeds."""
    by_subject: dict[int, list[float]] = {}
    for run in runs:
        by_subject.setdefault(run.subject, []).append(float(run.metrics[metric]))
    return {s: float(np.mean(v)) for s, v in sorted(by_subject.items())}


def runs_of(final: FinalResults, cell: str) -> list[FinalRun]:
    return [run for run in final.complete_runs if run.cell == cell]


def final_summary_table(final: FinalResults) -> Table:
    columns = ["backbone", "runs", "subjects", "seeds"]
    for k in TOP_KS:
        columns += [f"test_top{k}_mean", f"test_top{k}_std"]
    columns += [f"chance_top{k}" for k in TOP_KS]
    rows = []
    for cell in final.cells:
        runs = runs_of(final, cell)
        row: list[Any] = [
            cell,
            len(runs),
            len({r.subject for r in runs}),
            len({r.seed for r in runs}),
        ]
        for k in TOP_KS:
            values = run_values(runs, f"test_top{k}")
            row += [float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None]
        row += [_chance(runs, k) for k in TOP_KS]
        rows.append(row)
    return Table(
        key="final_test",
        title=f"Test retrieval accuracy ({final.protocol}), mean and std over subjects x seeds",
        columns=columns,
        rows=rows,
        formats={c: PCT for c in columns[4:]},
        notes=[
            "std is the sample standard deviation (ddof=1) over all runs (subjects x seeds).",
            "Chance: k / gallery size (the test gallery is every test image).",
        ],
    )


def _chance(runs: list[FinalRun], k: int) -> float | None:
    values = [run.metrics.get(f"test_chance_top{k}") for run in runs]
    known = [float(v) for v in values if v is not None and np.isfinite(v)]
    return known[0] if known else None


def grid_axis(final: FinalResults) -> dict[tuple[str | None, str | None], dict[str, str]]:
    """(encoder, input variant) -> backbone -> cell, for the final's cells that name an encoder
    or an input variant ({}: none do - a study with the backbones axis alone)."""
    grid: dict[tuple[str | None, str | None], dict[str, str]] = {}
    for cell in final.cells:
        encoder, backbone, inputs = parse_cell_key(cell)
        if encoder is not None or inputs is not None:
            grid.setdefault((encoder, inputs), {})[backbone] = cell
    return grid


def row_label(row: tuple[str | None, str | None]) -> str:
    """``encoder``, ``encoder@inputs`` or ``@inputs``: a grid row's name in figures."""
    encoder, inputs = row
    return (encoder or "") + ("" if inputs is None else f"@{inputs}")


def encoder_grid_table(final: FinalResults) -> Table:
    """The main comparison: test top-k, encoders (and input variants) as rows and backbones as
    columns."""
    grid = grid_axis(final)
    backbones = list(dict.fromkeys(b for cells in grid.values() for b in cells))
    with_encoders = any(encoder is not None for encoder, _ in grid)
    with_inputs = any(inputs is not None for _, inputs in grid)
    labels = ["encoder"] * with_encoders + ["inputs"] * with_inputs
    rows = []
    for (encoder, inputs), cells in grid.items():
        names = [encoder] * with_encoders + [inputs] * with_inputs
        for k in TOP_KS:
            row: list[Any] = [*names, f"test_top{k}"]
            for backbone in backbones:
                values = run_values(runs_of(final, cells[backbone]), f"test_top{k}")
                row.append(_mean_std(values) if backbone in cells else None)
            rows.append(row)
    axes = " and ".join(["EEG encoder"] * with_encoders + ["input variant"] * with_inputs)
    return Table(
        key="encoder_grid",
        title=f"Test accuracy by {axes} and image backbone ({final.protocol})",
        columns=[*labels, "metric", *backbones],
        rows=rows,
        notes=[
            "Each cell: mean +- sample std (ddof=1) over all runs (subjects x seeds), in %; "
            "every cell of the grid was tuned with the same budget, seeds and scheduler.",
        ],
    )


def _mean_std(values: np.ndarray) -> str:
    std = f" +- {100 * values.std(ddof=1):.1f}" if len(values) > 1 else ""
    return f"{100 * values.mean():.1f}{std} (n={len(values)})"


def per_subject_table(final: FinalResults) -> Table:
    columns = ["backbone", "subject", "seeds", *[f"test_top{k}" for k in TOP_KS]]
    rows = []
    for cell in final.cells:
        runs = runs_of(final, cell)
        means = {k: subject_means(runs, f"test_top{k}") for k in TOP_KS}
        for subject in means[TOP_KS[0]]:
            seeds = sum(run.subject == subject for run in runs)
            rows.append([cell, subject, seeds, *[means[k][subject] for k in TOP_KS]])
    return Table(
        key="per_subject",
        title="Test accuracy per subject (mean over seeds)",
        columns=columns,
        rows=rows,
        formats={c: PCT for c in columns[3:]},
    )


def unaligned_twin(cell: str) -> str | None:
    """The cell of ``cell``'s unaligned base backbone with the same encoder and input variant
    (``aligned_X`` -> ``X``, ``B+transform`` -> ``B``, ``E+aligned_X@i`` -> ``E+X@i``); None
    when ``cell``'s backbone is not an aligned one."""
    encoder, backbone, inputs = parse_cell_key(cell)
    base = unaligned_base(backbone)
    return None if base is None else cell_key(encoder, base, inputs)


def aligned_pairs(cells: list[str]) -> list[tuple[str, str]]:
    """``(aligned cell, unaligned cell)`` for every pair with the same encoder present."""
    present = set(cells)
    return [(c, twin) for c in cells if (twin := unaligned_twin(c)) in present]


def paired_table(final: FinalResults) -> Table:
    columns = ["aligned", "unaligned", "metric", "subjects", "aligned_mean", "unaligned_mean"]
    columns += ["difference", "ci95_low", "ci95_high", "test", "statistic", "p_value"]
    rows = []
    for aligned, unaligned in aligned_pairs(final.cells):
        for k in TOP_KS:
            metric = f"test_top{k}"
            a = subject_means(runs_of(final, aligned), metric)
            b = subject_means(runs_of(final, unaligned), metric)
            common = sorted(set(a) & set(b))
            result = paired_difference(
                np.array([a[s] for s in common]), np.array([b[s] for s in common])
            )
            rows.append(
                [aligned, unaligned, metric, result.n, result.mean_a, result.mean_b]
                + [result.mean_diff, result.ci_low, result.ci_high, result.test]
                + [result.statistic, result.p_value]
            )
    return Table(
        key="aligned_vs_unaligned",
        title="Aligned minus unaligned test accuracy, paired across subjects",
        columns=columns,
        rows=rows,
        formats={
            "aligned_mean": PCT,
            "unaligned_mean": PCT,
            "difference": DIFF,
            "ci95_low": DIFF,
            "ci95_high": DIFF,
            "statistic": "{:.3g}",
            "p_value": "{:.3g}",
        },
        notes=[
            "Each subject's accuracy is first averaged over seeds; pairs are the subjects both "
            "backbones were tested on.",
            f"Test: Wilcoxon signed-rank (two-sided) with >= {WILCOXON_MIN_N} subjects, paired t "
            "(two-sided) below; the 95% CI is the t-interval of the mean paired difference.",
        ],
    )


def similarity_table(final: FinalResults) -> Table:
    columns = ["backbone", "runs", "matched_mean", "unmatched_mean", "gap", "top1_from_similarity"]
    rows = []
    for backbone in final.cells:
        matrices = [m for run in runs_of(final, backbone) if (m := run.similarity()) is not None]
        if not matrices:
            continue
        matched, unmatched = split_similarities(matrices)
        rank1 = float(np.mean([top_k_hits(m, 1).mean() for m in matrices]))
        gap = float(matched.mean() - unmatched.mean())
        rows.append(
            [backbone, len(matrices), float(matched.mean()), float(unmatched.mean()), gap, rank1]
        )
    return Table(
        key="similarity",
        title="Cosine similarity of test EEG and image latents: matched vs unmatched pairs",
        columns=columns,
        rows=rows,
        formats={"top1_from_similarity": PCT, **{c: "{:.3f}" for c in columns[2:5]}},
        notes=[
            "Pooled over runs; matched = the diagonal (an EEG response and its own image); "
            "top1_from_similarity: how often a row's matched image scores strictly above every "
            "other image (ties count as misses, as in training).",
        ],
    )


def split_similarities(matrices: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All diagonal (matched) and off-diagonal (unmatched) entries of the matrices, pooled."""
    matched, unmatched = [], []
    for m in matrices:
        mask = np.eye(m.shape[0], dtype=bool)
        matched.append(m[mask])
        unmatched.append(m[~mask])
    return np.concatenate(matched), np.concatenate(unmatched)


def build_tables(results: StudyResults, best: list[BestTrial]) -> list[Table]:
    """The result tables (final-run tables only when final runs exist)."""
    tables = [best_trials_table(results, best), best_configs_table(best)]
    final = results.final
    if final is not None and final.complete_runs:
        tables += [final_summary_table(final), per_subject_table(final)]
        if grid_axis(final):
            tables.append(encoder_grid_table(final))
        if aligned_pairs(final.cells):
            tables.append(paired_table(final))
        similarity = similarity_table(final)
        if similarity.rows:
            tables.append(similarity)
    for kind, analysis in results.analyses.items():
        if analysis.complete_runs:
            tables += analysis_tables(kind, analysis)
    return tables


def analysis_tables(kind: str, analysis: FinalResults) -> list[Table]:
    """An analysis's test top-k per window or region (rows) and backbone (columns), and the
    paired aligned - unaligned test per window or region."""
    what = {"windows": "time window", "regions": "channel region"}.get(kind, kind)
    grid = encoder_grid_table(analysis)
    tables = [
        replace(
            grid,
            key=f"analysis_{kind}",
            title=f"Test accuracy per {what} ({analysis.protocol}; each cell's best config)",
            notes=[
                *grid.notes,
                f"inputs: [<variant>-]<{what}> of the study cell whose best configuration was "
                "trained (the window or channels replace the cell's own).",
            ],
        )
    ]
    if aligned_pairs(analysis.cells):
        paired = paired_table(analysis)
        tables.append(
            replace(
                paired,
                key=f"analysis_{kind}_aligned_vs_unaligned",
                title=f"Aligned minus unaligned test accuracy per {what}, paired across subjects",
            )
        )
    return tables


def importance_table(importances: dict[str, Importances], evaluator: str) -> Table:
    """Each backbone's importances with the trial count they rest on; notes for those left out."""
    rows = [
        [backbone, name, value, result.trials]
        for backbone, result in importances.items()
        for name, value in (result.values or {}).items()
    ]
    left_out = [
        f"{backbone}: {result.note}." for backbone, result in importances.items() if result.note
    ]
    return Table(
        key="param_importances",
        title="Parameter importances for the sweep objective",
        columns=["backbone", "parameter", "importance", "trials"],
        rows=rows,
        formats={"importance": "{:.3f}"},
        notes=[
            f"{evaluator} on an in-memory Optuna study rebuilt from each trial's sampled "
            "parameters and its best objective value (early-stopped trials included as reported); "
            "trials: how many trials each backbone's importances rest on.",
            *left_out,
        ],
    )
