"""Creating a study over encoders x backbones: cells, their resolved spaces, early refusals.

The cells' sweep, status, export-best, final and report run in the demo's test (test_demo.py).
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search_spaces import SearchSpace, define_by_run
from study.spec import DataSettings, StudySpec, SweepSettings
from study.sweep import create_study
from trainables.common.errors import ConfigError
from trainables.training.config import TrainConfig

ENCODERS = ["nice_100hz", "eegnet"]
BACKBONES = ["synclr", "aligned_synclr"]


def cells_spec(twin: Path, tmp_path: Path, **values: object) -> StudySpec:
    space = tmp_path / "space.yaml"
    space.write_text(
        "base: seed\nname: cells\noverrides:\n"
        "  eegnet:\n    eegnet.F1: {type: int, low: 4, high: 8}\n"
    )
    settings: dict = {
        "name": "cells",
        "backbones": list(BACKBONES),
        "encoders": list(ENCODERS),
        "data": DataSettings(root=str(twin), tune_subjects=[1]),
        "sweep": SweepSettings(num_samples=1, max_epochs=1, grace_period=1),
        "space": str(space),
    }
    return StudySpec(**{**settings, **values})


def test_each_cell_gets_its_encoder_and_its_own_resolved_space(twin: Path, tmp_path: Path) -> None:
    create_study(cells_spec(twin, tmp_path), tmp_path / "cells")
    saved = StudySpec.load(tmp_path / "cells")
    keys = [f"{e}+{b}" for e in ENCODERS for b in BACKBONES]
    assert [c.key for c in saved.cells()] == keys == list(saved.spaces)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for cell in saved.cells():
        space = SearchSpace.from_dict(saved.spaces[cell.key])
        assert ("eegnet.F1" in space.params) == (cell.encoder == "eegnet")
        sampled = define_by_run(space)(study.ask())
        config = TrainConfig.from_dict({**sampled, "model": cell.encoder})
        if cell.encoder == "eegnet":  # a tuned section setting reaches the encoder's section
            assert sampled["eegnet.F1"] == config.eegnet.F1 and 4 <= config.eegnet.F1 <= 8


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"train": {"model": "nice"}}, "train.model and encoders both choose"),
        ({"encoders": ["eegnet", "resnet"]}, "unknown encoder.*resnet"),
        ({"encoders": ["eegnet", "eegnet"]}, "encoders listed twice"),
        ({"encoders": ["shallow"], "train": {"shallow": {"pool_time_length": 1000}}},
         r"cell shallow\+synclr: shallow.pool_time_length=1000 is longer than"),
    ],
)  # fmt: skip
def test_a_bad_encoder_choice_is_refused_before_the_study_is_saved(
    twin: Path, tmp_path: Path, values: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_study(cells_spec(twin, tmp_path, **values), tmp_path / "cells")
    assert not (tmp_path / "cells").exists()
