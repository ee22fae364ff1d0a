"""Final training: LOSO folds, test similarity, export-best -> final round trip, no re-run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from study.cli import main
from study.final import best_configs, load_train_config, run_final
from study.results import FINISHED, load_final, read_trials
from study.spec import DataSettings, StudySpec, SweepSettings
from study.sweep import create_study, run_study
from tests.helpers.toy_data import toy_data
from trainables.common.errors import ConfigError
from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.loader import load_run_data
from trainables.things_eeg2.protocols import train_subjects
from trainables.training.checkpoints import TEST_SIMILARITY_FILE
from trainables.training.config import TrainConfig
from trainables.training.loop import train

BACKBONES = ["synclr", "aligned_synclr"]
TINY_TRAIN = {"batch_size": 64, "latent_dim": 32, "warmup_encoder": 1, "warmup_projector": 1}


@pytest.fixture(scope="module")
def swept(ray_session: None, twin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny study (one backbone, 2 trials x 2 epochs); returns its storage folder."""
    storage = tmp_path_factory.mktemp("studies")
    spec = StudySpec(
        name="tiny",
        backbones=["synclr"],
        data=DataSettings(root=str(twin), tune_subjects=[1, 2]),
        sweep=SweepSettings(num_samples=2, max_epochs=2, scheduler="none", max_concurrent=2),
        train=dict(TINY_TRAIN),
    )
    create_study(spec, storage / "tiny")
    run_study(storage / "tiny")
    return storage


def test_loso_holds_out_every_subject_once_and_never_trains_on_it(twin: Path) -> None:
    layout = find_layout(twin)
    subjects = list(layout.subjects)
    assert len(subjects) == 2
    held_out = []
    for subject in subjects:
        data = load_run_data(layout, "synclr", subject, "loso", subjects)
        assert subject not in data.train.subjects
        assert data.train.subjects == [s for s in subjects if s != subject]
        assert data.test.subjects == [subject] and data.val is None
        assert data.protocol["subject_protocol"].startswith("cross-subject")
        held_out.append(subject)
    assert sorted(held_out) == subjects
    intra = load_run_data(layout, "synclr", 2, "intra", subjects)
    assert intra.train.subjects == [2] and intra.test.subjects == [2]
    assert intra.train.eeg.shape[1] == len(intra.train.embeddings), "whole training set"


def test_loso_needs_two_subjects_and_a_known_protocol() -> None:
    with pytest.raises(ConfigError, match="at least 2 subjects"):
        train_subjects("loso", 1, [1])
    with pytest.raises(ConfigError, match="protocol"):
        train_subjects("cross", 1, [1, 2])
    assert train_subjects("loso", 3, [1, 2, 3]) == [1, 2]


def test_train_writes_the_test_similarity_into_the_last_checkpoint(tmp_path: Path) -> None:
    data = toy_data(n_train=96, n_val=32, n_test=24, n_subjects=1)
    config = TrainConfig(epochs=2, batch_size=32, latent_dim=16, warmup_encoder=1)
    result = train(config, data, checkpoint_dir=tmp_path, evaluate_test=True)
    matrix = np.load(result.checkpoint / TEST_SIMILARITY_FILE)
    assert matrix.dtype == np.float32 and matrix.shape == (24, 24)
    np.testing.assert_array_equal(matrix, result.test_similarity[0])
    assert np.abs(matrix).max() <= 1.0 + 1e-5
    top1 = float(np.mean(matrix.argmax(axis=1) == np.arange(24)))
    assert top1 == pytest.approx(result.final["test_top1"])
    assert not list(tmp_path.glob("epoch_0001/*.npy")), "only the tested checkpoint has it"
    untested = train(config, data, checkpoint_dir=tmp_path / "untested")
    assert untested.test_similarity is None
    assert not (untested.checkpoint / TEST_SIMILARITY_FILE).exists()


def _best_epoch(storage: Path, backbone: str, trial_id: str) -> int:
    trial = next(t for t in read_trials(storage / "tiny" / backbone) if t.trial_id == trial_id)
    history = trial.history
    return int(history.loc[history["val_top1"].idxmax(), "training_iteration"])


def test_export_best_then_final_round_trip(
    swept: Path, twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--name", "tiny", "--storage", str(swept)]
    exported = tmp_path / "best.yaml"
    assert main(["export-best", *flags, "--out", str(exported)]) == 0
    document = yaml.safe_load(exported.read_text())
    assert document["study"] == "tiny" and document["objective"] == "val_top1"
    configs = best_configs(swept / "tiny")
    assert {b: e["config"] for b, e in document["backbones"].items()} == configs
    for backbone, entry in document["backbones"].items():
        best_epoch = _best_epoch(swept, backbone, entry["trial_id"])
        assert entry["best_epoch"] == best_epoch == entry["config"]["epochs"]
        assert 0.0 <= entry["val_top1"] <= 1.0
        assert entry["config"]["batch_size"] == TINY_TRAIN["batch_size"]
        assert load_train_config(exported, backbone) == TrainConfig.from_dict(entry["config"])

    final = ["final", *flags, "--configs", str(exported), "--subjects", "1", "--seeds", "2"]
    assert main(final) == 0
    results = load_final(swept / "tiny" / "final")
    assert results.configs == configs and results.seeds == [0, 1] and results.subjects == [1]
    assert results.data["test_loaded"] and results.data["validation"] is None
    assert results.data["train_subjects"] == [1]
    assert len(results.runs) == 2 and len(results.complete_runs) == 2
    for run in results.runs:
        assert run.trial.status == FINISHED
        assert run.trial.config["protocol"] == "intra"
        assert run.trial.config["epochs"] == configs[run.backbone]["epochs"]
        for k in (1, 3, 5):
            assert 0.0 <= run.metrics[f"test_top{k}"] <= 1.0
        n_test = int(round(1 / run.metrics["test_chance_top1"]))
        assert run.similarity().shape == (n_test, n_test)
    seeds_differ = [r.similarity() for r in results.runs]
    assert not np.array_equal(*seeds_differ), "each seed trains its own model"

    capsys.readouterr()
    assert main(["report", *flags, "--out", str(tmp_path / "report")]) == 0
    assert "test" in capsys.readouterr().out.lower()
    summary = yaml.safe_load((tmp_path / "report" / "report.json").read_text())
    assert "final_test" in str(summary)

    stamps = {p: p.stat().st_mtime_ns for p in (swept / "tiny" / "final").rglob("result.json")}
    assert main(final) == 0
    assert "finished before" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert len(load_final(swept / "tiny" / "final").runs) == 2

    other = [*final[:-2], "--seeds", "1"]
    assert main(other) == 2
    assert "other seeds" in capsys.readouterr().err


def test_configs_only_loso_final(swept: Path, twin: Path, tmp_path: Path) -> None:
    configs = {"synclr": {**best_configs(swept / "tiny")["synclr"], "epochs": 1}}
    runs = run_final(
        tmp_path / "loso", configs, subjects=None, seeds=1, protocol="loso", data_root=twin
    )
    assert sorted(r.subject for r in runs) == [1, 2] and all(r.complete for r in runs)
    spec = StudySpec.load(tmp_path / "loso")
    assert spec.backbones == ["synclr"] and spec.data.root == str(twin.resolve())
    saved = load_final(tmp_path / "loso" / "final")
    assert saved.protocol == "loso" and saved.data["train_subjects"] == [2]
    assert main(["report", "--name", "loso", "--storage", str(tmp_path)]) == 0
