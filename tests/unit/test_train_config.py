"""TrainConfig: pydantic validation with one-line errors, encoder sections, round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydantic
import pytest

from trainables.common.errors import ConfigError
from trainables.models.settings import ENCODER_NAMES, SECTIONS
from trainables.training.checkpoints import check_resume_config
from trainables.training.config import MODEL_CHOICES, TrainConfig


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eegnet.feature_dim=0", "eegnet.feature_dim must be >= 1, got 0"),
        ("eegnet.nope=1", "unknown config key 'eegnet.nope' in override 'eegnet.nope=1'"),
        ("nope.x=1", "unknown config key 'nope.x'"),
        ("eegnet=3", "eegnet is a section; set its fields as eegnet.NAME=VALUE"),
        ("model=foo", "model must be one of 'auto', 'nice', 'nice_100hz', 'atms'"),
        ("dropout=1", "dropout must be < 1.0, got 1.0"),
        ("batch_size=1", "batch_size must be >= 2, got 1"),
        ("seed=-1", "seed must be >= 0, got -1"),
        ("seed=9223372036854775808", "seed must be <= 9223372036854775807"),
        ("epochs=1.5", "epochs must be int, got '1.5'"),
        ("conformer.att_drop_prob=nan", "conformer.att_drop_prob must be a finite number"),
        ("device=tpu", "device must be one of 'auto', 'cpu' or 'cuda', got 'tpu'"),
        ("bf16=maybe", "bf16 must be true or false, got 'maybe'"),
        ("lr_encoder", "override 'lr_encoder' is not key=value"),
    ],
)
def test_bad_overrides_are_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        TrainConfig().with_overrides([override])
    text = str(excinfo.value)
    assert text.startswith(message) and "\n" not in text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"zz": 1}, "run.yaml: zz is not a known setting"),
        ({"lr_encoder": "0.1"}, "run.yaml: lr_encoder must be a number, got '0.1'"),
        ({"epochs": 2.0}, "run.yaml: epochs must be an integer, got 2.0"),
        ({"compile": 1}, "run.yaml: compile must be true or false, got 1"),
        ({"eegnet": {"F1": "4"}}, "run.yaml: eegnet.F1 must be an integer, got '4'"),
        ({"eegnet": {"G": 4}}, "run.yaml: eegnet.G is not a known setting"),
        ({"eegnet.F1": 0}, "run.yaml: eegnet.F1 must be >= 1, got 0"),
        ({"atms": 5}, "run.yaml: atms must be a mapping, got 5"),
    ],
)
def test_bad_config_files_are_one_line_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        TrainConfig.from_dict(values, "run.yaml")
    assert str(excinfo.value).startswith(message)


def test_every_encoder_can_be_chosen_and_every_section_is_a_field() -> None:
    assert ("auto", *ENCODER_NAMES) == MODEL_CHOICES
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(SECTIONS) <= fields and set(SECTIONS) <= set(ENCODER_NAMES)
    for name in ENCODER_NAMES:
        config = TrainConfig().with_overrides([f"model={name}"])
        settings = config.encoder_settings(name)
        assert (settings is None) == (name not in SECTIONS)
        if settings is not None:
            assert settings == dataclasses.asdict(SECTIONS[name]())


def test_section_settings_come_from_overrides_dotted_keys_and_nested_mappings() -> None:
    by_override = TrainConfig().with_overrides(["model=eegnet", "eegnet.feature_dim=512"])
    by_dotted_key = TrainConfig.from_dict({"model": "eegnet", "eegnet.feature_dim": 512})
    by_mapping = TrainConfig.from_dict({"model": "eegnet", "eegnet": {"feature_dim": 512}})
    assert by_override == by_dotted_key == by_mapping
    assert by_override.encoder_settings("eegnet")["feature_dim"] == 512
    assert by_override.shallow == TrainConfig().shallow


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_load_round_trip_keeps_sections(tmp_path: Path, suffix: str) -> None:
    config = TrainConfig().with_overrides(["model=conformer", "conformer.att_depth=3", "seed=7"])
    config.save(tmp_path / f"config{suffix}")
    assert TrainConfig.load(tmp_path / f"config{suffix}") == config
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_direct_construction_validates_too() -> None:
    with pytest.raises(pydantic.ValidationError):
        TrainConfig(lr_encoder=-1.0)
    with pytest.raises(pydantic.ValidationError):
        dataclasses.replace(TrainConfig(), dropout=1.5)
    assert TrainConfig(eegnet={"F1": 4}).eegnet.F1 == 4


def test_a_config_saved_before_encoder_sections_existed_still_resumes() -> None:
    """Checkpoints of earlier versions hold no sections: their defaults are what ran."""
    config = TrainConfig(epochs=3)
    saved = {k: v for k, v in config.to_dict().items() if k not in SECTIONS}
    check_resume_config(saved, config, Path("old/epoch_0002"))
    changed = TrainConfig().with_overrides(["epochs=3", "eegnet.F1=4"])
    with pytest.raises(ConfigError, match="config differs in eegnet"):
        check_resume_config(saved, changed, Path("old/epoch_0002"))
