"""The `study` command: one subcommand per module in ``study.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from trainables.common.errors import UserError

COMMANDS = [
    "synth",
    "check",
    "embed",
    "download-models",
    "sweep",
    "resume",
    "status",
    "train",
    "report",
    "export-best",
    "final",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="study",
        description="Hyperparameter studies for EEG-to-image decoding with human-aligned models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"study.commands.{name.replace('-', '_')}")
        module.add_parser(sub)
    return parser


def os_error_line(exc: OSError) -> str:
    """``<path>: <reason>`` for a file-system error (unwritable, too long, full, ...)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f"{exc.filename}: " if exc.filename is not None else ""
    return f"{where}{reason}".replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
