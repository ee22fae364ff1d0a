"""RSA outputs: summary tables, the RSA-over-time figure, JSON/CSV files, the report section."""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reports.figures import ALIGNED_COLOR, DPI, UNALIGNED_COLOR, plt
from reports.render import markdown_table, plain
from reports.stats import WILCOXON_MIN_N, paired_difference
from reports.tables import Table, aligned_pairs, unaligned_twin
from study.results import read_synthetic_manifest
from trainables.analysis.rsa import RsaSettings
from trainables.analysis.rsa_run import RsaResult, run_rsa
from trainables.common.atomic import atomic_write
from trainables.common.errors import UserError

RSA_JSON = "rsa.json"
RSA_CSV = "rsa.csv"
CEILING_CSV = "rsa_noise_ceiling.csv"
FIGURE = "rsa_over_time.png"
WRITER = "study rsa"
RSA = "{:.3f}"
SECONDS = "{:.3f}"
ONSET_S = 0.0  # "after onset" averages the windows whose centre is at or after the image onset
LINE_STYLES = ("-", "--", ":", "-.")
CEILING_NOTE = (
    "Noise ceiling (Nili et al. 2014), mean over subjects of each subject's ranked EEG RDM "
    "correlated with the mean ranked RDM of all subjects (upper bound: no model can exceed it) "
    "and of the other subjects (lower bound)."
)

log = logging.getLogger(__name__)


def definition_note(result: RsaResult) -> str:
    """How one RSA value was computed, in one sentence."""
    s, w = result.settings, result.windows
    return (
        f"RSA: Spearman correlation between the upper triangles of the image RDM "
        f"(1 - {_distance_words(s.image_distance)} of the test embeddings) and a subject's EEG "
        f"RDM (1 - {_distance_words(s.eeg_distance)} of the repetition-averaged test EEG, "
        f"channels x {w.width} sample(s) flattened per window, windows every {w.step} "
        f"sample(s) at {result.facts['sfreq']:g} Hz) over {result.facts['n_images']} test images."
    )


def _distance_words(distance: str) -> str:
    return "Pearson correlation" if distance == "correlation" else "cosine similarity"


def data_note(result: RsaResult, synthetic: dict[str, Any] | None) -> str:
    """Which data the numbers come from; a loud banner for a `study synth` twin."""
    root = result.facts["data_root"]
    if synthetic is None:
        return f"Data: {root} (recorded EEG)."
    scale = synthetic.get("scale")
    facts = {"seed": synthetic.get("seed"), "scale": _scale_name(scale)}
    details = ", ".join(f"{key} {value}" for key, value in facts.items() if value is not None)
    return (
        f"SYNTHETIC DATA: {root} is a synthetic twin written by `study synth` ({details}); these "
        f"RSA values test the pipeline and say nothing about brains or image models."
    )


def _scale_name(scale: Any) -> Any:
    """synthetic.json records the scale as its name or as the whole Scale record."""
    return scale.get("name") if isinstance(scale, dict) else scale


def peak_table(result: RsaResult, synthetic: dict[str, Any] | None) -> Table:
    """Per backbone: peak of the subject-mean RSA, its time, the ceiling there, mean after onset."""
    ceiling = result.ceiling
    after = result.windows.centre_s >= ONSET_S
    rows = []
    for backbone in result.backbones:
        peak, time = result.peak(backbone)
        at = int(np.argmax(result.mean(backbone)))
        rows.append(
            [backbone, len(result.subjects), peak, time]
            + [float(ceiling.lower[at]) if ceiling else None]
            + [float(ceiling.upper[at]) if ceiling else None]
            + [float(result.mean(backbone)[after].mean()) if after.any() else None]
        )
    columns = ["backbone", "subjects", "peak_rsa", "peak_time_s", "ceiling_lower", "ceiling_upper"]
    columns.append("mean_rsa_after_onset")
    return Table(
        key="rsa_peaks",
        title="Decoder-free control: RSA of image and EEG dissimilarities (test images)",
        columns=columns,
        rows=rows,
        formats={c: RSA for c in columns[2:]} | {"peak_time_s": SECONDS},
        notes=[
            data_note(result, synthetic),
            definition_note(result),
            "peak_rsa: the highest mean over subjects across windows; peak_time_s: that window's "
            "centre; ceiling_*: the noise ceiling at that window; mean_rsa_after_onset: the mean "
            f"over subjects and windows centred at >= {ONSET_S:g} s.",
            CEILING_NOTE
            if ceiling
            else "No noise ceiling: it needs the EEG of at least two subjects.",
        ],
    )


def paired_rsa_table(result: RsaResult) -> Table | None:
    """Aligned minus unaligned mean RSA after onset, paired across subjects; None without pairs."""
    pairs = aligned_pairs(result.backbones)
    after = result.windows.centre_s >= ONSET_S
    if not pairs or not after.any():
        return None
    rows = []
    for aligned, unaligned in pairs:
        r = paired_difference(
            result.rsa[aligned][:, after].mean(axis=1), result.rsa[unaligned][:, after].mean(axis=1)
        )
        rows.append(
            [aligned, unaligned, r.n, r.mean_a, r.mean_b, r.mean_diff, r.ci_low, r.ci_high]
            + [r.test, r.statistic, r.p_value]
        )
    columns = ["aligned", "unaligned", "subjects", "aligned_mean", "unaligned_mean", "difference"]
    columns += ["ci95_low", "ci95_high", "test", "statistic", "p_value"]
    return Table(
        key="rsa_aligned_vs_unaligned",
        title="RSA: aligned minus unaligned, paired across subjects",
        columns=columns,
        rows=rows,
        formats={"aligned_mean": RSA, "unaligned_mean": RSA, "difference": "{:+.3f}"}
        | {"ci95_low": "{:+.3f}", "ci95_high": "{:+.3f}", "statistic": "{:.3g}"}
        | {"p_value": "{:.3g}"},
        notes=[
            f"Each subject's RSA is averaged over the windows centred at >= {ONSET_S:g} s.",
            f"Test: Wilcoxon signed-rank (two-sided) with >= {WILCOXON_MIN_N} subjects, paired t "
            "(two-sided) below; the 95% CI is the t-interval of the mean paired difference.",
        ],
    )


def rsa_tables(result: RsaResult, synthetic: dict[str, Any] | None) -> list[Table]:
    paired = paired_rsa_table(result)
    return [peak_table(result, synthetic)] + ([paired] if paired else [])


def plot_rsa(result: RsaResult, path: Path, synthetic: bool) -> Path:
    """RSA over time: subject mean per backbone (band: +- standard error over subjects), aligned
    orange and unaligned blue (one line style per pair), the noise ceiling as a grey band."""
    x = result.windows.centre_s
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    if result.ceiling is not None:
        ax.fill_between(
            x,
            result.ceiling.lower,
            result.ceiling.upper,
            color="0.88",
            label="noise ceiling (lower to upper bound)",
        )
        ax.plot(x, result.ceiling.lower, color="0.55", linewidth=0.8)
    for backbone in result.backbones:
        values = result.rsa[backbone]
        mean = values.mean(axis=0)
        color = ALIGNED_COLOR if unaligned_twin(backbone) is not None else UNALIGNED_COLOR
        style = LINE_STYLES[_family(result.backbones, backbone) % len(LINE_STYLES)]
        ax.plot(x, mean, style, color=color, label=backbone)
        if values.shape[0] > 1:
            sem = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
            ax.fill_between(x, mean - sem, mean + sem, color=color, alpha=0.2, linewidth=0)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.axvline(0.0, color="black", linewidth=0.5, linestyle=":")
    ax.set_xlabel("time of window centre (s)")
    ax.set_ylabel("Spearman correlation of RDMs")
    subjects = len(result.subjects)
    title = f"RSA over time, {subjects} subject(s), {result.facts['n_images']} test images"
    ax.set_title(("SYNTHETIC DATA - " if synthetic else "") + title, fontsize=10)
    ax.legend(fontsize=8)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    finally:
        plt.close(fig)
    return path


def _family(backbones: list[str], backbone: str) -> int:
    """Index of ``backbone``'s unaligned base among the bases, so a pair shares a line style."""
    bases = list(dict.fromkeys(unaligned_twin(b) or b for b in backbones))
    return bases.index(unaligned_twin(backbone) or backbone)


def rsa_record(result: RsaResult, synthetic: dict[str, Any] | None) -> dict[str, Any]:
    """Everything about one RSA run as plain JSON data."""
    w = result.windows
    ceiling = result.ceiling
    return plain(
        {
            "written_by": WRITER,
            "data_note": data_note(result, synthetic),
            "synthetic": {
                "seed": synthetic.get("seed"),
                "scale": _scale_name(synthetic.get("scale")),
                "format": synthetic.get("format"),
            }
            if synthetic
            else None,
            "settings": asdict(result.settings),
            "definition": definition_note(result),
            "data": result.facts,
            "subjects": result.subjects,
            "windows": {
                "width_samples": w.width,
                "step_samples": w.step,
                "start_s": w.start_s.tolist(),
                "end_s": w.end_s.tolist(),
                "centre_s": w.centre_s.tolist(),
            },
            "backbones": {
                b: {
                    "rsa": result.rsa[b].tolist(),
                    "mean": result.mean(b).tolist(),
                    "peak_rsa": result.peak(b)[0],
                    "peak_time_s": result.peak(b)[1],
                }
                for b in result.backbones
            },
            "noise_ceiling": {
                "definition": CEILING_NOTE,
                "lower": ceiling.lower.tolist(),
                "upper": ceiling.upper.tolist(),
            }
            if ceiling
            else None,
        }
    )


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def rsa_rows(result: RsaResult) -> list[list[Any]]:
    """One row per backbone, subject and window (the long format of rsa.csv)."""
    w = result.windows
    return [
        [b, s, float(w.start_s[i]), float(w.end_s[i]), float(w.centre_s[i]), float(values[j, i])]
        for b, values in result.rsa.items()
        for j, s in enumerate(result.subjects)
        for i in range(len(w))
    ]


def write_rsa(result: RsaResult, out_dir: Path, synthetic: dict[str, Any] | None) -> list[Path]:
    """rsa.json, rsa.csv, rsa_noise_ceiling.csv (with two or more subjects) and the figure."""
    out_dir = Path(out_dir)
    window = ["window_start_s", "window_end_s", "time_s"]
    texts = {
        RSA_JSON: json.dumps(rsa_record(result, synthetic), indent=2, allow_nan=False) + "\n",
        RSA_CSV: _csv(["backbone", "subject", *window, "rsa"], rsa_rows(result)),
    }
    if result.ceiling is not None:
        w = result.windows
        rows = [
            [w.start_s[i], w.end_s[i], w.centre_s[i], result.ceiling.lower[i]]
            + [result.ceiling.upper[i]]
            for i in range(len(w))
        ]
        texts[CEILING_CSV] = _csv([*window, "lower", "upper"], plain(np.asarray(rows).tolist()))
    written = []
    for name, text in texts.items():
        atomic_write(out_dir / name, lambda tmp, text=text: tmp.write_text(text))
        written.append(out_dir / name)
    written.append(plot_rsa(result, out_dir / FIGURE, synthetic is not None))
    return written


@dataclass(frozen=True)
class RsaSection:
    """The report's RSA section: its tables, its figure and its Markdown."""

    tables: list[Table]
    figure: Path
    markdown: str


def rsa_section(
    data_root: Path | str,
    backbones: list[str],
    out_dir: Path,
    cache_dir: Path | str | None = None,
) -> RsaSection | None:
    """The RSA section of a study's report, from the test EEG already in the prepared cache
    (no EEG file is parsed) and the backbones' stores; writes ``out_dir/figures/rsa_over_time.png``.

    None (with the reason logged) when the data root, a store or the cached test EEG is missing.
    """
    try:
        result = run_rsa(
            Path(data_root),
            backbones,
            RsaSettings(),
            cache_dir=Path(cache_dir) if cache_dir else None,
            cached_only=True,
        )
    except UserError as exc:
        log.info("report: no RSA section (%s)", exc)
        return None
    synthetic = read_synthetic_manifest(Path(data_root))
    tables = rsa_tables(result, synthetic)
    figure = plot_rsa(result, Path(out_dir) / "figures" / FIGURE, synthetic is not None)
    link = figure.relative_to(out_dir).as_posix()
    markdown = "\n".join(markdown_table(t) for t in tables) + f"\n![rsa over time]({link})\n"
    return RsaSection(tables=tables, figure=figure, markdown=markdown)


def summary_text(result: RsaResult, synthetic: dict[str, Any] | None) -> str:
    """What `study rsa` prints: the tables as Markdown."""
    return "\n".join(markdown_table(t) for t in rsa_tables(result, synthetic))
