"""Write the report's tables as Markdown, CSV, LaTeX and JSON (the same numbers in each)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from reports.tables import Table
from trainables.common.atomic import atomic_write, save_json_atomic
from trainables.common.errors import ConfigError

MARKDOWN_FILE = "report.md"
LATEX_FILE = "report.tex"
JSON_FILE = "report.json"
CSV_DIR = "csv"
REPORT_MANIFEST = "report_manifest.json"
WRITER = "study report"
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    header = "| " + " | ".join(_md_escape(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [f"## {table.title}", "", header, rule]
    for row in table.rows:
        cells = [_md_escape(table.cell(c, v)) for c, v in zip(table.columns, row, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    if not table.rows:
        lines.append("| " + " | ".join("-" for _ in table.columns) + " |")
    lines += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def markdown_report(
    title: str, tables: list[Table], banner: str | None, figures: list[Path], out_dir: Path
) -> str:
    """The whole report as Markdown (figures linked relative to ``out_dir``)."""
    parts = [f"# {title}\n"]
    if banner:
        parts.append(f"> **{banner}**\n")
    parts += [markdown_table(t) for t in tables]
    if figures:
        links = [f"![{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in figures]
        parts.append("## Figures\n\n" + "\n\n".join(links) + "\n")
    return "\n".join(parts)


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_table(table: Table) -> str:
    spec = "l" * len(table.columns)
    lines = [
        f"% {table.title}",
        r"\begin{table}[ht]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\label{{tab:{table.key}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\hline",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
        r"\hline",
    ]
    for row in table.rows:
        cells = [latex_escape(table.cell(c, v)) for c, v in zip(table.columns, row, strict=True)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex_report(tables: list[Table], banner: str | None) -> str:
    """All tables as LaTeX table environments, ready to \\input (needs no extra packages)."""
    head = f"% {banner}\n" if banner else ""
    return head + "\n".join(latex_table(t) for t in tables)


def plain(value: Any) -> Any:
    """JSON-safe scalars: numpy types as Python ones, NaN and infinities as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def json_report(tables: list[Table], banner: str | None) -> dict[str, Any]:
    return {
        "synthetic_data_banner": banner,
        "tables": {
            t.key: {
                "title": t.title,
                "columns": t.columns,
                "rows": plain(t.records()),
                "notes": t.notes,
            }
            for t in tables
        },
    }


def csv_text(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in plain(row)])
    return buffer.getvalue()


def _write_text(path: Path, text: str) -> Path:
    atomic_write(path, lambda tmp: tmp.write_text(text))
    return path


def write_report(
    out_dir: Path, title: str, tables: list[Table], banner: str | None, figures: list[Path]
) -> tuple[str, list[Path]]:
    """Write report.md, report.tex, report.json and csv/<table>.csv; return (Markdown, files)."""
    markdown = markdown_report(title, tables, banner, figures, out_dir)
    files = [
        _write_text(out_dir / MARKDOWN_FILE, markdown),
        _write_text(out_dir / LATEX_FILE, latex_report(tables, banner)),
        _write_text(
            out_dir / JSON_FILE,
            json.dumps(json_report(tables, banner), indent=2, allow_nan=False) + "\n",
        ),
    ]
    files += [_write_text(out_dir / CSV_DIR / f"{t.key}.csv", csv_text(t)) for t in tables]
    return markdown, files


def _manifest_files(out_dir: Path) -> list[str] | None:
    """The files a valid report manifest in ``out_dir`` lists (None: no valid manifest)."""
    path = out_dir / REPORT_MANIFEST
    if not path.is_file() or path.is_symlink():
        return None
    try:
        raw = json.loads(path.read_bytes())
    except ValueError:
        return None
    files = raw.get("files") if isinstance(raw, dict) and raw.get("written_by") == WRITER else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return [f for f in files if not PurePosixPath(f).is_absolute() and ".." not in f.split("/")]


def _legacy_report_files(out_dir: Path) -> list[str] | None:
    """The files of a report written before manifests existed (None: not such a folder).

    Recognised only when it holds ``report.json`` and nothing but the names a report writes:
    report.md/.tex/.json, ``csv/*.csv`` and ``figures/*.png``, with no links.
    """
    folders = {CSV_DIR: ".csv", "figures": ".png"}
    if not (out_dir / JSON_FILE).is_file():
        return None
    names = []
    for path in sorted(out_dir.rglob("*")):
        relative = path.relative_to(out_dir).as_posix()
        if path.is_symlink():
            return None
        if path.is_dir():
            if relative not in folders:
                return None
            continue
        folder = PurePosixPath(relative).parent.as_posix()
        known = relative in (MARKDOWN_FILE, LATEX_FILE, JSON_FILE)
        known |= folder in folders and relative.endswith(folders[folder])
        if not known:
            return None
        names.append(relative)
    return names


def claim_out_dir(out_dir: Path) -> list[str]:
    """Make ``out_dir`` a report folder; return the files its previous report listed.

    A new or empty folder is claimed with a manifest before anything else is written (a report
    that fails halfway can be rerun); so is a report folder written before manifests existed.
    Any other non-empty folder without a manifest written by `study report` is someone else's
    and is refused, so no file of theirs is overwritten.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: the report folder (--out) is a file")
    previous = _manifest_files(out_dir) if out_dir.is_dir() else None
    if previous is None and out_dir.is_dir():
        previous = _legacy_report_files(out_dir)
    if previous is None and out_dir.is_dir() and any(out_dir.iterdir()):
        raise ConfigError(
            f"{out_dir}: not empty and not a report folder (no {REPORT_MANIFEST} written by "
            "`study report`); refusing to write over its files: choose a new or empty --out"
        )
    previous = previous or []
    save_json_atomic(out_dir / REPORT_MANIFEST, {"written_by": WRITER, "files": previous})
    return previous


def finish_out_dir(out_dir: Path, written: list[Path], previous: list[str]) -> Path:
    """List the files written in the manifest; remove the previous report's files not rewritten."""
    names = sorted(path.relative_to(out_dir).as_posix() for path in written)
    for stale in sorted(set(previous) - set(names)):
        path = out_dir / stale
        if path.is_file() and not path.is_symlink():
            path.unlink()
    manifest = out_dir / REPORT_MANIFEST
    save_json_atomic(manifest, {"written_by": WRITER, "files": names})
    return manifest
