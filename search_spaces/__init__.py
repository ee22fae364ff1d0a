"""Optuna define-by-run search spaces over TrainConfig fields: specs, presets, samplers."""

from search_spaces.define_by_run import DefineByRun, define_by_run, sample_config, suggest
from search_spaces.distributions import distribution
from search_spaces.presets import PRESETS, load_space_file, preset, resolve, space_from_dict
from search_spaces.spec import (
    TUNABLE_FIELDS,
    Categorical,
    IntRange,
    LogUniform,
    ParamSpec,
    SearchSpace,
    Uniform,
)

__all__ = [
    "PRESETS",
    "TUNABLE_FIELDS",
    "Categorical",
    "DefineByRun",
    "IntRange",
    "LogUniform",
    "ParamSpec",
    "SearchSpace",
    "Uniform",
    "define_by_run",
    "distribution",
    "load_space_file",
    "preset",
    "resolve",
    "sample_config",
    "space_from_dict",
    "suggest",
]
