"""Search spaces: presets, YAML files, validation errors, Optuna and Ray OptunaSearch sampling."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from pathlib import Path

import optuna
import pytest

from search_spaces import (
    PRESETS,
    TUNABLE_FIELDS,
    Categorical,
    IntRange,
    LogUniform,
    ParamSpec,
    SearchSpace,
    Uniform,
    define_by_run,
    distribution,
    load_space_file,
    resolve,
    sample_config,
)
from trainables.common.errors import ConfigError

optuna.logging.set_verbosity(optuna.logging.WARNING)

SEED_RECIPE = {
    "lr_encoder": 8e-3,
    "lr_projector": 8e-3,
    "warmup_encoder": 4,
    "warmup_projector": 2,
    "latent_dim": 256,
}


def contains(spec: ParamSpec, value: float) -> bool:
    match spec:
        case Categorical(choices):
            return value in choices
        case IntRange(low, high, step, _):
            return isinstance(value, int) and low <= value <= high and (value - low) % step == 0
        case LogUniform(low, high) | Uniform(low, high):
            return isinstance(value, float) and low <= value <= high
    raise AssertionError(spec)


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- presets -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["seed", "wide"])
def test_presets_round_trip_and_hold_the_seed_recipe(name: str) -> None:
    space = resolve(name)
    assert SearchSpace.from_yaml(space.to_yaml()) == space
    assert SearchSpace.from_dict(json.loads(space.to_json())) == space
    for field_name, value in SEED_RECIPE.items():
        assert contains(space.params[field_name], value), (name, field_name)


def test_seed_preset_is_a_neighbourhood_of_the_recipe() -> None:
    seed = PRESETS["seed"].params
    for lr in ("lr_encoder", "lr_projector"):
        spec = seed[lr]
        assert isinstance(spec, LogUniform)
        assert 1e-3 <= spec.low < 8e-3 < spec.high <= 5e-2
    assert isinstance(seed["warmup_encoder"], IntRange)
    assert isinstance(seed["warmup_projector"], IntRange)
    assert isinstance(seed["latent_dim"], Categorical) and 256 in seed["latent_dim"].choices


def test_wide_preset_covers_the_issue_ranges() -> None:
    wide = PRESETS["wide"].params
    assert wide["lr_encoder"] == LogUniform(1e-4, 3e-2) == wide["lr_projector"]
    assert wide["warmup_encoder"] == IntRange(0, 10) == wide["warmup_projector"]
    latent = wide["latent_dim"]
    assert isinstance(latent, Categorical)
    assert min(latent.choices) == 64 and max(latent.choices) == 1024
    assert {"temperature_init", "dropout", "weight_decay", "batch_size"} <= set(wide)


def test_tunable_fields_match_train_config() -> None:
    config = pytest.importorskip("trainables.training.config")
    fields = {f.name: f for f in dataclasses.fields(config.TrainConfig)}
    types = config.field_types()
    for name, rule in TUNABLE_FIELDS.items():
        assert name in fields, name
        assert types[name] is rule.kind, (name, types[name])
        default = fields[name].default
        if default is not dataclasses.MISSING:
            assert rule.admits(default), (name, default)


@pytest.mark.parametrize("name", ["seed", "wide"])
def test_sampled_configs_build_a_train_config(name: str) -> None:
    config = pytest.importorskip("trainables.training.config")
    func = define_by_run(resolve(name))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    for _ in range(20):
        sampled = func(study.ask())
        built = config.TrainConfig.from_dict(sampled)
        assert {k: getattr(built, k) for k in sampled} == sampled


# --- YAML files ----------------------------------------------------------------------------

FROM_SCRATCH = """
name: mine
params:
  lr_encoder: {type: loguniform, low: 1e-4, high: 1.0e-2}
  dropout: {type: uniform, low: 0.1, high: 0.6}
  warmup_encoder: {type: int, low: 0, high: 8, step: 2}
  latent_dim: {type: int, low: 64, high: 1024, log: true}
  weight_decay: {type: categorical, choices: [0, 1e-5]}
fixed:
  batch_size: 512
overrides:
  dreamsim_synclr:
    lr_encoder: {type: loguniform, low: 1e-3, high: 3e-2}
    batch_size: {type: categorical, choices: [256, 1024]}
"""


def test_yaml_space_from_scratch_round_trips(tmp_path: Path) -> None:
    space = load_space_file(write(tmp_path, FROM_SCRATCH))
    assert space.name == "mine"
    assert space.params["lr_encoder"] == LogUniform(1e-4, 1e-2)  # "1e-4": PyYAML reads a string
    assert space.params["latent_dim"] == IntRange(64, 1024, log=True)
    assert space.params["weight_decay"] == Categorical((0, 1e-5))
    assert space.fixed == {"batch_size": 512}
    assert SearchSpace.from_yaml(space.to_yaml()) == space
    assert load_space_file(write(tmp_path, space.to_json(), "again.json")) == space


def test_backbone_overrides_apply_only_to_that_backbone(tmp_path: Path) -> None:
    path = write(tmp_path, FROM_SCRATCH)
    plain = resolve(path, "synclr")
    tuned = resolve(path, "dreamsim_synclr")
    assert plain.params["lr_encoder"] == LogUniform(1e-4, 1e-2)
    assert plain.fixed == {"batch_size": 512} and not plain.overrides
    assert tuned.params["lr_encoder"] == LogUniform(1e-3, 3e-2)
    assert tuned.params["batch_size"] == Categorical((256, 1024))
    assert tuned.fixed == {} and not tuned.overrides
    assert tuned.name == "mine@dreamsim_synclr"
    for saved in (tmp_path / "saved.yaml", tmp_path / "saved.json"):
        tuned.save(saved)
        assert resolve(saved) == tuned == resolve(saved, "dreamsim_synclr")
    assert json.loads((tmp_path / "saved.json").read_text()) == tuned.to_dict()


def test_yaml_amends_a_preset(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
base: seed
params:
  lr_encoder: {type: loguniform, low: 1e-3, high: 1e-2}
  warmup_projector: null
  dropout: {type: uniform, low: 0.2, high: 0.5}
fixed:
  latent_dim: 512
overrides:
  clip: {temperature_init: {type: loguniform, low: 0.02, high: 0.1}}
""",
        "amend.yaml",
    )
    space = resolve(path)
    seed = PRESETS["seed"]
    assert space.name == "amend"
    assert space.params["lr_encoder"] == LogUniform(1e-3, 1e-2)
    assert space.params["lr_projector"] == seed.params["lr_projector"]
    assert space.params["warmup_encoder"] == seed.params["warmup_encoder"]
    assert "warmup_projector" not in space.params
    assert "latent_dim" not in space.params and space.fixed == {"latent_dim": 512}
    assert space.params["dropout"] == Uniform(0.2, 0.5)
    assert "temperature_init" not in space.params
    assert resolve(path, "clip").params["temperature_init"] == LogUniform(0.02, 0.1)
    # The resolved space needs no preset to be read back.
    assert SearchSpace.from_yaml(space.to_yaml()) == space


# --- invalid spaces ------------------------------------------------------------------------

INVALID = [
    ("lr_encoder: {type: loguniform, low: 0.1, high: 0.01}", "low 0.1 > high 0.01"),
    ("warmup_encoder: {type: int, low: 5, high: 2}", "low 5 > high 2"),
    ("lr_encoder: {type: loguniform, low: 0, high: 0.01}", "log-uniform bounds must be > 0"),
    ("lr_encoder: {type: loguniform, low: -1.0, high: 0.01}", "log-uniform bounds must be > 0"),
    ("latent_dim: {type: int, low: 0, high: 64, log: true}", "log=true needs low > 0"),
    ("learning_rate: {type: loguniform, low: 1e-4, high: 1e-2}", "unknown parameter"),
    ("latent_dim: {type: categorical, choices: []}", "choices must not be empty"),
    ("latent_dim: {type: categorical, choices: [128, 128]}", "choices repeat"),
    ("latent_dim: {type: categorical, choices: [big]}", "choice 'big' is not a number"),
    ("latent_dim: {type: categorical, choices: [128.5]}", "integer field; choice 128.5"),
    ("latent_dim: {type: categorical, choices: 128}", "choices must be a list"),
    ("latent_dim: {type: loguniform, low: 64, high: 1024}", "latent_dim is an integer field"),
    ("dropout: {type: int, low: 0, high: 1}", "dropout is a float field"),
    ("dropout: {type: uniform, low: 0.1, high: 1.0}", "outside dropout's range [0, 1)"),
    ("batch_size: {type: int, low: 1, high: 64}", "outside batch_size's range [2, inf]"),
    ("lr_encoder: {type: uniform, low: abc, high: 0.01}", "low must be a number, got 'abc'"),
    ("lr_encoder: {type: uniform, low: .nan, high: 0.01}", "low must be finite"),
    ("lr_encoder: {type: uniform, low: true, high: 0.01}", "low must be a number, got True"),
    ("warmup_encoder: {type: int, low: 1.5, high: 4}", "low must be an integer, got 1.5"),
    ("warmup_encoder: {type: int, low: 1, high: 4, step: 0}", "step must be >= 1"),
    ("latent_dim: {type: int, low: 64, high: 512, log: yes please}", "log must be true or false"),
    ("lr_encoder: {type: gaussian, low: 1, high: 2}", "type must be one of"),
    ("lr_encoder: {low: 1.0e-4, high: 1.0e-2}", "type must be one of"),
    ("lr_encoder: {type: loguniform, lo: 1.0e-4, high: 1.0e-2}", "unknown key(s) lo"),
    ("lr_encoder: {type: loguniform, high: 1.0e-2}", "missing key(s) low"),
    ("lr_encoder: 0.01", "expected a mapping with a 'type' key"),
]


@pytest.mark.parametrize(("param_yaml", "message"), INVALID)
def test_invalid_param_is_a_one_line_config_error(
    tmp_path: Path, param_yaml: str, message: str
) -> None:
    path = write(tmp_path, f"params:\n  {param_yaml}\n", "bad.yaml")
    with pytest.raises(ConfigError) as excinfo:
        resolve(path)
    text = str(excinfo.value)
    assert message in text
    assert "'bad'" in text and "\n" not in text


INVALID_DOCUMENTS = [
    ("params: {}\n", "no parameters to tune"),
    ("params: [1, 2]\n", "params: expected a mapping"),
    ("name: x\n", "missing key(s) params"),
    ("params: {dropout: {type: uniform, low: 0, high: 0.5}}\nextra: 1\n", "unknown key(s) extra"),
    ("base: best\nparams: {}\n", "unknown search-space preset 'best'"),
    ("base: [seed]\n", "base must be a preset name"),
    ("base: seed\ncolour: red\n", "unknown key(s) colour"),
    (
        "base: seed\nparams: {dropout: {type: uniform, low: 0, high: 0.5}}\n"
        "fixed: {dropout: 0.1}\n",
        "dropout both tuned (params) and fixed",
    ),
    (
        "params: {dropout: {type: uniform, low: 0, high: 0.5}}\nfixed: {dropout: 0.1}\n",
        "dropout is both tuned (params) and fixed",
    ),
    ("base: seed\nfixed: {latent_dim: 12.5}\n", "fixed value must be an integer"),
    ("base: seed\nfixed: {colour: 1}\n", "unknown parameter 'colour'"),
    ("base: seed\nfixed: {lr_encoder: -1.0}\n", "fixed value -1.0 is outside"),
    (
        "base: seed\noverrides: {clip: {latent_dim: {type: categorical, choices: []}}}\n",
        "overrides.clip.latent_dim: categorical choices must not be empty",
    ),
    ("params: {dropout: [\n", "not valid YAML"),
    ("- 1\n- 2\n", "expected a mapping"),
]


@pytest.mark.parametrize(("document", "message"), INVALID_DOCUMENTS)
def test_invalid_document_is_a_one_line_config_error(
    tmp_path: Path, document: str, message: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        resolve(write(tmp_path, document))
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [("sed", "not a preset or a file"), ("missing.yaml", "no such file")],
)
def test_unknown_space_name(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(str(tmp_path / name) if name.endswith(".yaml") else name)


def test_programmatic_space_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="low 2 > high 1"):
        SearchSpace("x", {"latent_dim": IntRange(2, 1)})
    with pytest.raises(ConfigError, match="log-uniform bounds must be > 0"):
        SearchSpace("x", {"dropout": LogUniform(0.0, 0.5)})


def test_define_by_run_refuses_unresolved_overrides(tmp_path: Path) -> None:
    space = load_space_file(write(tmp_path, FROM_SCRATCH))
    with pytest.raises(ValueError, match="for_backbone"):
        define_by_run(space)
    define_by_run(space.for_backbone("clip"))


# --- sampling with Optuna ------------------------------------------------------------------


def test_define_by_run_samples_from_the_one_distribution_mapping(tmp_path: Path) -> None:
    """The sweep's proposals and the report's rebuilt study use the same distributions."""
    path = tmp_path / "mine.yaml"
    path.write_text(FROM_SCRATCH)
    space = load_space_file(path).for_backbone("synclr")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    define_by_run(space)(study.ask())
    expected = {name: distribution(spec) for name, spec in space.params.items()}
    assert study.trials[0].distributions == expected
    with pytest.raises(TypeError, match="not a parameter spec"):
        distribution("loguniform")  # type: ignore[arg-type]


def test_optuna_study_samples_within_bounds_with_field_types(tmp_path: Path) -> None:
    space = resolve(write(tmp_path, FROM_SCRATCH))
    func = define_by_run(space)
    configs: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        config = func(trial)
        configs.append(config)
        return math.log(config["lr_encoder"]) + config["dropout"]

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=14)
    assert len(configs) == 14
    for config in configs:
        assert set(config) == set(space.params) | set(space.fixed)
        assert config["batch_size"] == 512
        for name, spec in space.params.items():
            value = config[name]
            assert isinstance(value, TUNABLE_FIELDS[name].kind), (name, value)
            assert contains(spec, value), (name, value)
    distributions = study.trials[0].distributions
    assert distributions["lr_encoder"].log and not distributions["dropout"].log
    assert distributions["latent_dim"].log


def test_log_uniform_is_sampled_in_log_space() -> None:
    space = SearchSpace(
        "x", {"lr_encoder": LogUniform(1e-4, 3e-2), "lr_projector": Uniform(1e-4, 3e-2)}
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    draws = [sample_config(space, study.ask()) for _ in range(400)]
    below = [sum(d[name] < 1e-3 for d in draws) / len(draws) for name in space.params]
    # P(x < 1e-3): log-uniform ln(10)/ln(300) = 0.40; uniform 0.9e-3/29.9e-3 = 0.03.
    assert 0.3 < below[0] < 0.5
    assert below[1] < 0.1


def test_proposals_do_not_depend_on_yaml_order(tmp_path: Path) -> None:
    dropout = "  dropout: {type: uniform, low: 0, high: 0.5}\n"
    latent = "  latent_dim: {type: int, low: 8, high: 64}\n"
    runs = []
    for text in (f"params:\n{dropout}{latent}", f"params:\n{latent}{dropout}"):
        func = define_by_run(resolve(write(tmp_path, text)))
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
        runs.append([func(study.ask()) for _ in range(5)])
    assert runs[0] == runs[1]


def _tpe_proposals(seed: int, n: int = 14) -> list[dict]:
    func = define_by_run(resolve("wide"))
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: -abs(math.log(func(t)["lr_encoder"] / 8e-3)), n_trials=n)
    return [t.params for t in study.trials]


def test_seeded_tpe_is_reproducible() -> None:
    first = _tpe_proposals(11)
    assert first == _tpe_proposals(11)
    assert first != _tpe_proposals(12)


# --- Ray Tune's OptunaSearch ---------------------------------------------------------------


def _ray_proposals(space: SearchSpace, seed: int, n: int) -> list[dict]:
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(space=define_by_run(space), metric="val_top1", mode="max", seed=seed)
    proposals = []
    for i in range(n):
        config = searcher.suggest(f"trial_{i}")
        proposals.append(config)
        searcher.on_trial_complete(f"trial_{i}", {"val_top1": -abs(config["lr_encoder"] - 8e-3)})
    return proposals


def test_ray_optuna_search_suggests_without_a_cluster() -> None:
    import ray

    space = resolve("wide")
    running_before = ray.is_initialized()  # other tests of the session may have started Ray
    proposals = _ray_proposals(space, seed=3, n=12)
    assert ray.is_initialized() == running_before, "suggesting must not start Ray"
    for config in proposals:
        assert set(config) == set(space.params)
        for name, spec in space.params.items():
            assert isinstance(config[name], TUNABLE_FIELDS[name].kind), (name, config[name])
            assert contains(spec, config[name]), (name, config[name])
    assert proposals == _ray_proposals(space, seed=3, n=12)
    assert proposals != _ray_proposals(space, seed=4, n=12)


def test_ray_optuna_search_returns_fixed_constants_and_survives_save_restore(
    tmp_path: Path,
) -> None:
    from ray.tune.search.optuna import OptunaSearch

    space = resolve(write(tmp_path, "base: seed\nfixed: {weight_decay: 0, batch_size: 128}\n"))
    func = define_by_run(space)
    assert pickle.loads(pickle.dumps(func)) == func

    searcher = OptunaSearch(space=func, metric="val_top1", mode="max", seed=0)
    for i in range(3):
        config = searcher.suggest(f"t{i}")
        assert config["batch_size"] == 128
        assert config["weight_decay"] == 0.0 and isinstance(config["weight_decay"], float)
        searcher.on_trial_complete(f"t{i}", {"val_top1": float(i)})
    checkpoint = tmp_path / "searcher.pkl"
    searcher.save(str(checkpoint))
    restored = OptunaSearch(space=func, metric="val_top1", mode="max", seed=0)
    restored.restore(str(checkpoint))
    assert restored.suggest("t3") == searcher.suggest("t3")
