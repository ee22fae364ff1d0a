"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is slow (Ray sweeps, finals, the demo)."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole pytest session (about 5 s to start).

    It declares one logical GPU (none is needed: Ray only schedules it), so fractional-GPU
    trials can be tested on a CPU machine.
    """
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def synth_twin(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Factory of synthetic twins: ``synth_twin(**SynthConfig options)`` writes each distinct
    configuration once per session and returns its root. Shared: copy a twin before changing it."""
    written: dict[str, Path] = {}

    def make(**options: Any) -> Path:
        key = repr(sorted(options.items()))
        if key not in written:
            from study.synthetic import SynthConfig, write_dataset

            out = tmp_path_factory.mktemp("twin") / "data"
            written[key] = write_dataset(SynthConfig(out=out, **options))
        return written[key]

    return make


@pytest.fixture(scope="session")
def twin(synth_twin: Callable[..., Path]) -> Path:
    """The tiny twin without JPEGs (default subjects; synclr and aligned_synclr stores)."""
    return synth_twin(scale="tiny", images=False, backbones=["synclr", "aligned_synclr"])
