"""Write the report's tables as Markdown, CSV, LaTeX and JSON (the same numbers in each)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from reports.tables import Table
from trainables.atomic import atomic_write

MARKDOWN_FILE = "report.md"
LATEX_FILE = "report.tex"
JSON_FILE = "report.json"
CSV_DIR = "csv"
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
