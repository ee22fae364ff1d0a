"""The `study` command: one subcommand per module in ``study.commands``.

Commands print their result on stdout; progress and status messages go through the standard
``logging`` module, configured here once while a command runs: on stderr, INFO as the bare
message, other levels prefixed with theirs (``warning: ...``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from trainables.common.errors import UserError

COMMANDS = [
    "synth",
    "preprocess",
    "check",
    "embed",
    "download-models",
    "sweep",
    "resume",
    "status",
    "train",
    "report",
    "rsa",
    "export-best",
    "final",
    "analyze",
    "demo",
]
LOGGED_PACKAGES = ("study", "trainables", "reports", "search_spaces")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="study",
        description="Hyperparameter studies for EEG-to-image decoding with human-aligned models.",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const=logging.DEBUG,
        default=logging.INFO,
        help="also print debug messages",
    )
    verbosity.add_argument(
        "-q",
        "--quiet",
        dest="log_level",
        action="store_const",
        const=logging.WARNING,
        help="print only results, warnings and errors",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"study.commands.{name.replace('-', '_')}")
        module.add_parser(sub)
    return parser


class MessageFormatter(logging.Formatter):
    """INFO records as the bare message; other levels as ``<level>: message``."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno == logging.INFO:
            return message
        return f"{record.levelname.lower()}: {message}"


def _ours_or_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in LOGGED_PACKAGES


@contextmanager
def logging_to_stderr(level: int) -> Iterator[None]:
    """Within: this project's messages from ``level`` and other libraries' warnings and errors
    on stderr. Undone on exit, so a second ``main()`` in one process (tests) starts afresh."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MessageFormatter())
    handler.addFilter(_ours_or_warning)
    loggers = [logging.getLogger(package) for package in LOGGED_PACKAGES]
    levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for logger, previous in zip(loggers, levels, strict=True):
            logger.setLevel(previous)


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
        with logging_to_stderr(args.log_level):
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
