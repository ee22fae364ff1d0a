"""The report's PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reports.importance import EVALUATOR  # noqa: E402
from reports.tables import (  # noqa: E402
    grid_axis,
    row_label,
    run_values,
    runs_of,
    split_similarities,
    subject_means,
    unaligned_twin,
)
from study.results import BestTrial, FinalResults, StudyResults  # noqa: E402
from trainables.common.atomic import atomic_write  # noqa: E402
from trainables.models.ranking import TOP_KS  # noqa: E402

DPI = 120
ALIGNED_COLOR = "tab:orange"
UNALIGNED_COLOR = "tab:blue"


def _save(fig: Figure, path: Path) -> Path:
    """Write the figure as PNG atomically (a reader never sees half a file), then close it."""
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    finally:
        plt.close(fig)
    return path


def _color(cell: str) -> str:
    return ALIGNED_COLOR if unaligned_twin(cell) is not None else UNALIGNED_COLOR


def _pair_order(cells: list[str]) -> list[str]:
    """Each unaligned cell followed by its aligned twin(s); the rest after, as given."""
    ordered: list[str] = []
    for cell in cells:
        base = unaligned_twin(cell) or cell
        for name in (base, *[c for c in cells if unaligned_twin(c) == base]):
            if name in cells and name not in ordered:
                ordered.append(name)
    return ordered


def plot_encoder_grid(final: FinalResults, path: Path, title: str | None = None) -> Path | None:
    """Grouped bars: encoders (and input variants) on the x axis, one bar per backbone (aligned
    orange, unaligned blue; mean +- std over runs), one dot per subject; None without such an
    axis."""
    grid = grid_axis(final)
    if not grid:
        return None
    backbones = _pair_order(list(dict.fromkeys(b for cells in grid.values() for b in cells)))
    width = 0.8 / len(backbones)
    fig, axes = plt.subplots(
        1, len(TOP_KS), figsize=(2.2 * len(grid) * len(TOP_KS) + 2, 4), sharey=True,
        layout="constrained",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for ax, k in zip(np.atleast_1d(axes), TOP_KS, strict=True):
        metric = f"test_top{k}"
        for i, cells in enumerate(grid.values()):
            for j, backbone in enumerate(b for b in backbones if b in cells):
                runs = runs_of(final, cells[backbone])
                values = run_values(runs, metric)
                x = i - 0.4 + width * (j + 0.5)
                std = values.std(ddof=1) if len(values) > 1 else 0.0
                label = backbone if i == 0 else None
                color = _color(cells[backbone])
                ax.bar(x, values.mean(), width * 0.9, yerr=std, capsize=3, color=color,
                       alpha=0.4 + 0.5 * (j % 2), label=label)  # fmt: skip
                points = np.array(list(subject_means(runs, metric).values()))
                jitter = rng.uniform(-width / 4, width / 4, size=len(points))
                ax.scatter(x + jitter, points, s=10, color="black", zorder=3)
        ax.set_title(f"top-{k}")
        ax.set_xticks(np.arange(len(grid)), [row_label(row) for row in grid])
        ax.set_ylim(0, 1)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy (bars: mean +- std; dots: subjects)")
    np.atleast_1d(axes)[-1].legend(fontsize="small")
    fig.suptitle(title or f"Aligned vs unaligned image backbones per grid row ({final.protocol})")
    return _save(fig, path)


def plot_final_bars(final: FinalResults, path: Path) -> Path:
    """Bars of test top-k (mean, std error bars over runs), one dot per subject, chance lines."""
    backbones = _pair_order(final.cells)
    fig, axes = plt.subplots(
        1, len(TOP_KS), figsize=(3.2 * len(TOP_KS) + 1, 4), sharey=True, layout="constrained"
    )
    rng = np.random.default_rng(0)
    x = np.arange(len(backbones))
    for ax, k in zip(np.atleast_1d(axes), TOP_KS, strict=True):
        metric = f"test_top{k}"
        for i, backbone in enumerate(backbones):
            runs = runs_of(final, backbone)
            values = run_values(runs, metric)
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            ax.bar(i, values.mean(), yerr=std, capsize=4, color=_color(backbone), alpha=0.7)
            points = np.array(list(subject_means(runs, metric).values()))
            jitter = rng.uniform(-0.15, 0.15, size=len(points))
            ax.scatter(i + jitter, points, s=14, color="black", zorder=3)
            chance = runs[0].metrics.get(f"test_chance_top{k}")
            if chance is not None:
                ax.hlines(chance, i - 0.4, i + 0.4, colors="gray", linestyles="--")
        ax.set_title(f"top-{k}")
        ax.set_xticks(x, backbones, rotation=30, ha="right")
        ax.set_ylim(0, 1)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy (bars: mean +- std; dots: subjects)")
    fig.suptitle(f"Aligned vs unaligned, test set ({final.protocol}); dashed: chance")
    return _save(fig, path)


def plot_learning_curves(best: list[BestTrial], path: Path) -> Path:
    """Validation top-1 per epoch of each backbone's best trial, with chance level."""
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    chance = None
    for b in best:
        if b.trial is None or "val_top1" not in b.trial.history:
            continue
        history = b.trial.history
        epochs = history["epoch"] if "epoch" in history else history["training_iteration"]
        ax.plot(epochs, history["val_top1"], marker="o", ms=3, color=_color(b.backbone))
        ax.lines[-1].set_label(f"{b.backbone} ({b.trial.trial_id})")
        if "val_chance_top1" in history:
            chance = float(history["val_chance_top1"].iloc[-1])
    if chance is not None:
        ax.axhline(chance, color="gray", linestyle="--", label="chance")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation top-1")
    ax.set_title("Learning curves of the best trials")
    if ax.lines:
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_similarity(final: FinalResults, path: Path) -> Path | None:
    """Histograms of test cosine similarity, matched (diagonal) vs unmatched pairs, per backbone."""
    data = {}
    for backbone in _pair_order(final.cells):
        matrices = [m for run in runs_of(final, backbone) if (m := run.similarity()) is not None]
        if matrices:
            data[backbone] = split_similarities(matrices)
    if not data:
        return None
    fig, axes = plt.subplots(
        1, len(data), figsize=(4 * len(data), 3.5), sharey=True, layout="constrained"
    )
    for ax, (backbone, (matched, unmatched)) in zip(np.atleast_1d(axes), data.items(), strict=True):
        bins = np.linspace(
            min(matched.min(), unmatched.min()), max(matched.max(), unmatched.max()), 40
        )
        ax.hist(unmatched, bins=bins, density=True, alpha=0.5, color="gray", label="unmatched")
        ax.hist(
            matched, bins=bins, density=True, alpha=0.6, color=_color(backbone), label="matched"
        )
        ax.set_title(backbone)
        ax.set_xlabel("cosine similarity (EEG vs image latent)")
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("density")
    fig.suptitle("Test set: matched vs unmatched EEG-image pairs")
    return _save(fig, path)


def plot_importances(importances: dict[str, dict[str, float]], path: Path) -> Path | None:
    """Horizontal bars of each backbone's parameter importances."""
    if not importances:
        return None
    fig, axes = plt.subplots(
        1,
        len(importances),
        figsize=(4 * len(importances), 3),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, (backbone, values) in zip(axes[0], importances.items(), strict=True):
        names = sorted(values, key=values.__getitem__)
        ax.barh(names, [values[n] for n in names], color=_color(backbone))
        ax.set_title(backbone)
        ax.set_xlabel("importance")
    fig.suptitle(f"Parameter importances for the objective, {EVALUATOR}", fontsize=9)
    return _save(fig, path)


def write_figures(
    results: StudyResults,
    best: list[BestTrial],
    importances: dict[str, dict[str, float]],
    out_dir: Path,
) -> list[Path]:
    """Every figure that the study's results allow; returns the files written."""
    written = [plot_learning_curves(best, out_dir / "learning_curves.png")]
    final = results.final
    if final is not None and final.complete_runs:
        written.append(plot_final_bars(final, out_dir / "aligned_vs_unaligned.png"))
        written.append(plot_encoder_grid(final, out_dir / "encoders_by_backbone.png"))
        written.append(plot_similarity(final, out_dir / "similarity_distributions.png"))
    for kind, analysis in results.analyses.items():
        if analysis.complete_runs:
            title = f"Test accuracy per {kind[:-1]}: aligned vs unaligned ({analysis.protocol})"
            written.append(plot_encoder_grid(analysis, out_dir / f"analysis_{kind}.png", title))
    written.append(plot_importances(importances, out_dir / "param_importances.png"))
    return [p for p in written if p is not None]
