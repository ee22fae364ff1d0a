"""Input variants as a study axis: cells, recorded protocol, early refusals, and a tiny
sweep -> final -> report where each cell trains on what its variant reads of the EEG."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from study.cli import main
from study.final import best_configs, run_final
from study.results import last_checkpoint, load_final, read_outcome
from study.spec import DataSettings, StudySpec, SweepSettings, parse_cell_key
from study.sweep import create_study, run_study
from trainables.common.errors import ConfigError
from trainables.models.head import build_model
from trainables.things_eeg2.inputs import InputSpec, parse_input_variants
from trainables.training.checkpoints import load_checkpoint

BACKBONES = ["synclr", "aligned_synclr"]
# occ also trains on single repetitions drawn per epoch (validation and test: the average)
VARIANTS = "all=default,occ=channels:occipital/tmax:0.5/repetitions:1"


def inputs_spec(twin: Path, **values: object) -> StudySpec:
    settings: dict = {
        "name": "inputs",
        "backbones": list(BACKBONES),
        "inputs": parse_input_variants(VARIANTS),
        "data": DataSettings(root=str(twin), tune_subjects=[1]),
        "sweep": SweepSettings(num_samples=1, max_epochs=1, grace_period=1, cpus_per_trial=0.5),
        "train": {"batch_size": 64, "latent_dim": 32, "warmup_encoder": 1, "warmup_projector": 1},
    }
    return StudySpec(**{**settings, **values})


def test_each_variant_is_a_cell_and_what_it_reads_is_recorded(twin: Path, tmp_path: Path) -> None:
    create_study(inputs_spec(twin), tmp_path / "inputs")
    saved = StudySpec.load(tmp_path / "inputs")
    keys = [f"{b}@{v}" for v in ("all", "occ") for b in BACKBONES]
    assert [c.key for c in saved.cells()] == keys == list(saved.spaces)
    assert [parse_cell_key(k) for k in keys[2:]] == [(None, b, "occ") for b in BACKBONES]
    protocol = saved.data_protocol
    assert protocol is not None and set(protocol.inputs) == {"all", "occ"}
    full, occ = protocol.inputs["all"], protocol.inputs["occ"]
    assert full["channels"] == protocol.channels and full["n_times"] == protocol.n_times
    assert occ["channels"] == [c for c in protocol.channels if c.startswith(("PO", "O", "I"))]
    assert 0 < len(occ["channels"]) < len(protocol.channels)
    assert occ["times_s"][1] <= 0.5 < full["times_s"][1]
    assert saved.inputs_of(saved.cell("synclr@occ")) == InputSpec(
        channels="occipital", tmax=0.5, repetitions=1
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"inputs": {"fr": InputSpec(channels="frontal")}}, r"inputs.fr \(channels:frontal\)"),
        ({"inputs": {"late": InputSpec(tmin=5.0)}}, r"inputs.late"),
        ({"inputs": {"bad name": InputSpec()}}, "input variant name"),
        ({"data": DataSettings(inputs=InputSpec(decimate=2))}, "data.inputs and an inputs axis"),
        ({"backbones": ["synclr", "x@y"]}, "contain '@'"),
    ],
)
def test_a_variant_that_does_not_fit_the_data_is_refused_before_saving(
    twin: Path, tmp_path: Path, values: dict, message: str
) -> None:
    spec = inputs_spec(twin, **values)
    if "data" in values:
        spec.data.root, spec.data.tune_subjects = str(twin), [1]
    with pytest.raises(ConfigError, match=message):
        create_study(spec, tmp_path / "inputs")
    assert not (tmp_path / "inputs").exists()


@pytest.fixture(scope="module")
def swept(ray_session: None, twin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A swept study over two input variants x an aligned pair; returns its storage folder."""
    storage = tmp_path_factory.mktemp("studies")
    create_study(inputs_spec(twin), storage / "inputs")
    run_study(storage / "inputs")
    return storage


def test_sweep_final_and_report_over_input_variants(
    swept: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = swept / "inputs"
    outcomes = [read_outcome(directory, c.key) for c in StudySpec.load(directory).cells()]
    assert all(o is not None and o.trials == 1 and o.errors == 0 for o in outcomes)
    configs = best_configs(directory)
    run_final(directory, configs, subjects=[1], seeds=1)
    final = load_final(directory / "final")
    assert len(final.complete_runs) == 4
    protocol = StudySpec.load(directory).data_protocol
    assert protocol is not None
    for run in final.complete_runs:
        variant = parse_cell_key(run.cell)[2]
        read = protocol.inputs[variant]
        expected_text = (
            "default" if variant == "all" else "channels:occipital/tmax:0.5/repetitions:1"
        )
        assert run.trial.config["inputs"] == expected_text
        state = load_checkpoint(last_checkpoint(run.trial.logdir))
        expected = build_model(
            state["config"]["model"],
            n_channels=read["n_channels"],
            n_times=read["n_times"],
            sfreq=read["sfreq"],
            embedding_dim=8,
            latent_dim=32,
        ).state_dict()
        encoder = {k: tuple(v.shape) for k, v in state["model"].items() if k.startswith("encoder.")}
        assert encoder == {
            k: tuple(v.shape) for k, v in expected.items() if k.startswith("encoder.")
        }
    assert main(["report", "--name", "inputs", "--storage", str(swept), "--out",
                 str(tmp_path / "report")]) == 0  # fmt: skip
    capsys.readouterr()
    tables = yaml.safe_load((tmp_path / "report" / "report.json").read_text())["tables"]
    assert {"encoder_grid", "aligned_vs_unaligned"} <= set(tables)
    grid = tables["encoder_grid"]
    assert grid["columns"][:2] == ["inputs", "metric"]
    assert {row["inputs"] for row in grid["rows"]} == {"all", "occ"}
    # the decoder-free control sits next to the decoding results (the final cached test EEG)
    assert {"rsa_peaks", "rsa_aligned_vs_unaligned"} <= set(tables)
    assert (tmp_path / "report" / "figures" / "rsa_over_time.png").is_file()


def test_analyze_regions_of_every_cell_and_report_them(
    swept: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--name", "inputs", "--storage", str(swept)]
    analyze = ["analyze", *flags, "--regions", "occipital,parietal", "--subjects", "1"]
    assert main(analyze) == 0
    printed = capsys.readouterr().out
    analysis = load_final(swept / "inputs" / "analysis" / "regions")
    expected = {
        f"{b}@{v}-{r}" for v in ("all", "occ") for r in ("occipital", "parietal") for b in BACKBONES
    }
    assert set(analysis.cells) == expected and len(analysis.complete_runs) == 8
    for run in analysis.complete_runs:
        variant, region = parse_cell_key(run.cell)[2].split("-")
        window = "" if variant == "all" else "/tmax:0.5/repetitions:1"  # the rest is the cell's
        assert run.trial.config["inputs"] == f"channels:{region}{window}"
        assert f"[{run.cell}] 1 complete runs" in printed
    assert main(analyze) == 0  # finished: kept, not re-run
    assert "finished before" in capsys.readouterr().err
    out = tmp_path / "report"
    assert main(["report", *flags, "--out", str(out)]) == 0
    tables = yaml.safe_load((out / "report.json").read_text())["tables"]
    assert "analysis_regions" in tables and "analysis_regions_aligned_vs_unaligned" in tables
    assert (out / "figures" / "analysis_regions.png").is_file()
    assert main(["analyze", *flags, "--windows", "sliding:5:5"]) == 2
    assert "no window fits the epoch" in capsys.readouterr().err
