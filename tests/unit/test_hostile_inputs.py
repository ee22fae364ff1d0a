"""Hostile command-line input: every refusal is one `error:` line and exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.cli import main
from trainables.common.errors import ConfigError
from trainables.embedding.backbones import get_backbone
from trainables.training.config import TrainConfig

STUDY_COMMANDS = {
    "sweep": ["--data", "DATA", "--backbones", "synclr"],
    "resume": [],
    "status": [],
    "report": [],
    "export-best": ["--out", "OUT/best.yaml"],
    "final": ["--data", "DATA", "--configs", "OUT/best.yaml"],
}
BAD_NAMES = ["../x", "/abs/x", "a/b", "..", ".", "", ".hidden", "a\\b", "x\ny"]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("command", sorted(STUDY_COMMANDS))
def test_every_command_refuses_a_name_that_is_not_a_plain_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, name: str
) -> None:
    storage = tmp_path / "deep" / "storage"
    storage.mkdir(parents=True)
    extra = [
        a.replace("DATA", str(tmp_path / "data")).replace("OUT", str(tmp_path))
        for a in STUDY_COMMANDS[command]
    ]
    code = main([command, "--storage", str(storage), "--name", name, *extra])
    assert code == 2
    assert "one plain folder name under --storage" in one_error_line(capsys)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [
        Path("deep"), Path("deep/storage")
    ]  # fmt: skip


def test_too_long_output_path_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / ("x" * 300) / "data"
    code = main(["synth", "--out", str(out), "--no-images", "--backbones", ""])
    assert code == 2
    line = one_error_line(capsys)
    assert "x" * 300 in line and line.endswith("File name too long")


def test_output_below_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("user data")
    code = main(["synth", "--out", str(tmp_path / "file" / "twin"), "--no-images"])
    assert code == 2
    assert one_error_line(capsys) == f"error: {tmp_path / 'file' / 'twin'}: Not a directory"
    assert (tmp_path / "file").read_text() == "user data"


@pytest.mark.parametrize(
    "override",
    ["weight_decay=nan", "weight_decay=inf", "weight_decay=-inf", "seed=-1",
     f"seed={2**63}", "seed=100000000000000000000000", "seed=1e23", "epochs=nan"],
)  # fmt: skip
def test_train_refuses_non_finite_or_out_of_range_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str
) -> None:
    code = main(["train", "--data", str(tmp_path), "--backbone", "synclr", "--subject", "1",
                 "--out", str(tmp_path / "run"), override])  # fmt: skip
    assert code == 2
    assert override.split("=")[0] in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "values",
    [{"lr_encoder": float("nan")}, {"weight_decay": 10**400}, {"seed": 1e23}, {"seed": 10**23},
     {"epochs": -(2**64)}],
)  # fmt: skip
def test_config_files_with_non_finite_or_huge_numbers_are_refused(values: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(values))):
        TrainConfig.from_dict(values)


def test_a_temperature_below_the_logit_scale_clamp_is_refused() -> None:
    """exp(logit scale) is clamped at 100: an initial temperature below 1/100 could not hold."""
    with pytest.raises(ConfigError, match="temperature_init must be >= 0.01"):
        TrainConfig.from_dict({"temperature_init": 0.005})
    assert TrainConfig(temperature_init=0.01).temperature_init == 0.01


def test_largest_int64_seed_is_accepted() -> None:
    assert TrainConfig(seed=2**63 - 1).seed == 2**63 - 1


@pytest.mark.parametrize("seed", ["-1", str(2**63), "-100000000000000000000"])
def test_synth_refuses_a_negative_or_huge_seed_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: str
) -> None:
    code = main(["synth", "--out", str(tmp_path / "twin"), "--seed", seed, "--no-images"])
    assert code == 2
    assert "--seed" in one_error_line(capsys)
    assert not (tmp_path / "twin").exists()


def test_zero_byte_model_file_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    for req in get_backbone("aligned_synclr").required_files():
        path = models / (req if isinstance(req, str) else req[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
    (models / "synclr_vit_b_16.pth").write_bytes(b"")
    argv = ["embed", "--data", str(tmp_path), "--backbones", "aligned_synclr"]
    assert main([*argv, "--models-dir", str(models)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {models / 'synclr_vit_b_16.pth'}: empty model file (0 bytes)")


@pytest.mark.parametrize("command", ["status", "resume", "report", "export-best"])
def test_too_long_study_name_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    extra = ["--out", str(tmp_path / "best.yaml")] if command == "export-best" else []
    code = main([command, "--storage", str(tmp_path), "--name", "n" * 300, *extra])
    assert code == 2
    assert "n" * 300 in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []
