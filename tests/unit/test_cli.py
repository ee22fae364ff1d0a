"""The CLI: the light parser's choices, and its one logging setup (messages on stderr, results
on stdout, -v/-q, undone when the command returns)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from study.cli import LOGGED_PACKAGES, build_parser, logging_to_stderr
from study.synth_options import FORMAT_NAMES, SCALE_NAMES
from study.synthetic.params import SCALES
from trainables.common.errors import ConfigError
from trainables.things_eeg2.formats import FORMATS


def test_synth_choices_are_the_defined_scales_and_formats() -> None:
    assert sorted(SCALE_NAMES) == sorted(SCALES) and sorted(FORMAT_NAMES) == sorted(FORMATS)


def test_verbosity_flags() -> None:
    parse = build_parser().parse_args
    assert parse(["status", "--name", "x"]).log_level == logging.INFO
    assert parse(["-v", "status", "--name", "x"]).log_level == logging.DEBUG
    assert parse(["--quiet", "status", "--name", "x"]).log_level == logging.WARNING
    with pytest.raises(SystemExit):
        parse(["-v", "-q", "status", "--name", "x"])


def test_messages_go_to_stderr_info_bare(capsys: pytest.CaptureFixture[str]) -> None:
    with logging_to_stderr(logging.INFO):
        logging.getLogger("trainables.things_eeg2.prepared_cache").info("preparing %s", "sub-01")
        logging.getLogger("study.sweep").debug("hidden at INFO")
        logging.getLogger("study.ray_runtime").warning("digests not recorded")
        logging.getLogger("some_library").info("another library's info is not ours")
        logging.getLogger("some_library").error("its errors are shown")
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "preparing sub-01",
        "warning: digests not recorded",
        "error: its errors are shown",
    ]


@pytest.mark.parametrize(
    ("level", "shown"),
    [(logging.DEBUG, ["debug: detail", "progress"]), (logging.WARNING, [])],
)
def test_verbose_and_quiet(capsys: pytest.CaptureFixture[str], level: int, shown: list) -> None:
    with logging_to_stderr(level):
        logging.getLogger("study.final").debug("detail")
        logging.getLogger("reports.tables").info("progress")
    assert capsys.readouterr().err.splitlines() == shown


def test_undone_when_the_command_returns(capsys: pytest.CaptureFixture[str]) -> None:
    handlers = list(logging.getLogger().handlers)
    levels = [logging.getLogger(name).level for name in LOGGED_PACKAGES]
    with logging_to_stderr(logging.DEBUG):
        pass
    logging.getLogger("study.final").info("a library call after main() returned")
    assert logging.getLogger().handlers == handlers
    assert [logging.getLogger(name).level for name in LOGGED_PACKAGES] == levels
    assert capsys.readouterr().err == ""


def test_demo_and_sweep_take_an_encoders_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from study import demo
    from study.cli import main
    from study.commands.sweep import spec_from_args

    seen = []

    def fake_demo(settings: demo.DemoSettings) -> Path:
        seen.append(settings)
        (tmp_path / "report.md").write_text("report")
        return tmp_path / "report.md"

    monkeypatch.setattr(demo, "run_demo", fake_demo)
    assert main(["demo", "--out", str(tmp_path), "--encoders", "nice_100hz, eegnet"]) == 0
    assert seen[0].encoders == ["nice_100hz", "eegnet"]
    flags = ["--name", "s", "--data", "d", "--backbones", "synclr", "--encoders", "atms,shallow"]
    args = build_parser().parse_args(["sweep", *flags])
    spec = spec_from_args(args)
    assert spec.encoders == ["atms", "shallow"]
    assert [c.key for c in spec.cells()] == ["atms+synclr", "shallow+synclr"]
    spec.encoders = ["eegnet", "resnet"]
    with pytest.raises(ConfigError, match="unknown encoder.*resnet"):
        spec.validate()


def test_sweep_takes_input_variants_and_the_studys_data_inputs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from study.cli import main
    from study.commands.sweep import spec_from_args
    from trainables.things_eeg2.inputs import InputSpec

    flags = ["--name", "s", "--data", "d", "--backbones", "synclr,aligned_synclr"]
    variants = "all=default,occ=channels:O1+Oz+O2/tmin:0/tmax:0.4,avg2=repetitions:2"
    spec = spec_from_args(build_parser().parse_args(["sweep", *flags, "--inputs", variants]))
    assert spec.inputs == {
        "all": InputSpec(),
        "occ": InputSpec(channels=["O1", "Oz", "O2"], tmin=0.0, tmax=0.4),
        "avg2": InputSpec(repetitions=2),
    }
    assert [c.key for c in spec.cells()][:3] == ["synclr@all", "aligned_synclr@all", "synclr@occ"]
    args = build_parser().parse_args(["sweep", *flags, "--data-inputs", "decimate:2"])
    assert spec_from_args(args).data.inputs == InputSpec(decimate=2)
    both = ["sweep", *flags, "--inputs", variants, "--data-inputs", "decimate:2"]
    with pytest.raises(ConfigError, match="data.inputs and an inputs axis"):
        spec_from_args(build_parser().parse_args(both)).validate()
    assert main(["sweep", *flags, "--inputs", "occ=channels:"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
