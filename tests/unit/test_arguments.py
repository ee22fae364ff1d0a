"""Hostile list, range and number arguments: one error line and exit 2 before any work is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.arguments import MAX_SUBJECT, check_numbers, parse_names, parse_subjects
from study.cli import main
from trainables.common.errors import ConfigError

HUGE = "1000000000000"  # 10**12
GIANT = "9" * 4000  # still an int to argparse (its limit is 4300 digits)

# command -> the arguments it needs besides the flag under test (TMP: an empty folder)
BASE = {
    "sweep": ["--name", "s", "--storage", "TMP/studies", "--data", "TMP/no-data", "--backbones",
              "synclr"],
    "final": ["--name", "s", "--storage", "TMP/studies", "--data", "TMP/no-data"],
    "export-best": ["--name", "s", "--storage", "TMP/studies", "--out", "TMP/best.yaml"],
    "train": ["--data", "TMP/no-data", "--backbone", "synclr", "--out", "TMP/run"],
    "embed": ["--data", "TMP/no-data", "--backbones", "synclr", "--models-dir", "TMP/no-models"],
    "synth": ["--out", "TMP/twin"],
    "download-models": ["--backbones", "synclr", "--models-dir", "TMP/no-models"],
}  # fmt: skip

HOSTILE = [
    ("sweep", "--tune-subjects", ["1-99999999999", "0", "3-1", "1,,2", GIANT, "1-" + GIANT]),
    ("sweep", "--num-samples", ["0", "-1", HUGE, GIANT]),
    ("sweep", "--max-epochs", ["0", "-5", HUGE]),
    ("sweep", "--grace-period", ["0", HUGE]),
    ("sweep", "--reduction-factor", ["1", "0", HUGE]),
    ("sweep", "--max-concurrent", ["0", HUGE]),
    ("sweep", "--concurrent-cells", ["-1", HUGE]),
    ("sweep", "--max-failures", ["-1", HUGE]),
    ("sweep", "--seed", ["-1", str(2**32), GIANT]),
    ("sweep", "--cpus-per-trial", ["0", "-1", "nan", "inf", "1e300"]),
    ("sweep", "--gpus-per-trial", ["-1", "nan", "inf", "1e9"]),
    ("sweep", "--backbones", ["syn\nclr", "a\x00b"]),
    ("sweep", "--wandb-tags", ["ok,bad\ttag"]),
    ("final", "--subjects", ["1-99999999999", "0", "1000", "2-1", GIANT]),
    ("final", "--seeds", [HUGE, "0", "-3", GIANT]),
    ("final", "--epochs", ["0", "-1", HUGE]),
    ("final", "--max-concurrent", ["0", HUGE]),
    ("final", "--cpus-per-trial", ["0", "nan", "-inf"]),
    ("final", "--gpus-per-trial", ["-0.5", "nan"]),
    ("export-best", "--epochs", ["0", "-1", HUGE]),
    ("train", "--subject", ["0", "-1", HUGE, GIANT]),
    ("train", "--val-seed", ["-1", str(2**32)]),
    ("embed", "--batch-size", ["0", "-1", HUGE]),
    ("embed", "--workers", ["-1", HUGE]),
    ("embed", "--backbones", ["synclr\nclip", "x" * 100_000]),
    ("download-models", "--backbones", ["synclr\nclip"]),
    ("synth", "--subjects", ["1-99999999999", "0", "100", "4-2", GIANT, "١"]),
    ("synth", "--backbones", ["synclr\nclip"]),
]
CASES = [(cmd, flag, value) for cmd, flag, values in HOSTILE for value in values]


def _argv(tmp_path: Path, command: str, flag: str, value: str) -> list[str]:
    base = [a.replace("TMP", str(tmp_path)) for a in BASE[command]]
    if flag in base:  # the flag under test replaces the harmless default value
        index = base.index(flag)
        base[index : index + 2] = []
    if command == "train" and flag != "--subject":
        base += ["--subject", "1"]
    return [command, *base, f"{flag}={value}"]


@pytest.mark.parametrize(
    "command,flag,value", CASES, ids=[f"{c}{f}={v[:20]!r}" for c, f, v in CASES]
)
def test_hostile_values_are_one_error_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, flag: str, value: str
) -> None:
    assert main(_argv(tmp_path, command, flag, value)) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert flag in lines[0] and len(lines[0]) < 300, lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing created: refused before any work


def test_subject_ranges_are_bounded_before_they_are_expanded() -> None:
    assert parse_subjects(f"1-3,{MAX_SUBJECT}") == [1, 2, 3, MAX_SUBJECT]
    assert parse_subjects(" 2 , 001-2") == [1, 2]
    with pytest.raises(ConfigError, match=rf"--tune-subjects .*1\.\.{MAX_SUBJECT}"):
        parse_subjects("1-99999999999", flag="--tune-subjects")
    with pytest.raises(ConfigError, match="runs backwards"):
        parse_subjects("5-3")


def test_names_drop_blanks_and_refuse_control_characters() -> None:
    assert parse_names(" a, ,b,") == ["a", "b"]
    with pytest.raises(ConfigError, match="--wandb-tags"):
        parse_names("a,b\nc", flag="--wandb-tags")


def test_check_numbers_skips_absent_flags_and_checks_repeated_ones() -> None:
    class Args:
        seeds = None
        subject = [1, 2, 0]

    check_numbers(Args(), {"seeds": (1, 10)})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"--subject must be in 1\.\.999, got '0'"):
        check_numbers(Args(), {"subject": (1, MAX_SUBJECT)})  # type: ignore[arg-type]
