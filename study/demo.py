"""The one-command demo: synthetic twin -> sweep aligned vs unaligned -> final runs -> report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from study.spec import DataSettings, StudySpec, SweepSettings, study_dir
from trainables.common.errors import ConfigError

logger = logging.getLogger(__name__)
DEMO_BACKBONES = ["synclr", "aligned_synclr"]


@dataclass
class DemoSettings:
    """Sizes of the demo; the defaults take about 5 minutes on a 2-core CPU machine (README)."""

    out: Path = Path("demo")
    scale: str = "small"
    subjects: list[int] = field(default_factory=lambda: [1, 2, 3])
    tune_subjects: list[int] = field(default_factory=lambda: [1])
    num_samples: int = 6
    max_epochs: int = 12
    grace_period: int = 3
    seeds: int = 2
    batch_size: int = 256
    seed: int = 0
    encoders: list[str] = field(default_factory=list)  # empty: NICE only, no encoders axis


QUICK = {  # for tests: the same pipeline in about a minute
    "scale": "tiny",
    "subjects": [1, 2],
    "num_samples": 2,
    "max_epochs": 2,
    "grace_period": 1,
    "seeds": 1,
    "batch_size": 64,
}


def run_demo(settings: DemoSettings) -> Path:
    """Run the whole pipeline into ``settings.out``; returns the report's Markdown file."""
    from reports.report import generate_report
    from study.final import best_configs, run_final
    from study.results import load_study
    from study.sweep import create_study, run_study
    from study.synthetic import SynthConfig, write_dataset

    out = Path(settings.out).expanduser().resolve()
    storage, name = out / "studies", "demo"
    if (study_dir(storage, name) / "study.yaml").exists():
        raise ConfigError(f"{out} already holds a demo; remove it or choose another --out")
    start = time.monotonic()

    def stage(text: str) -> None:
        logger.info("=== [%6.1fs] %s", time.monotonic() - start, text)

    stage(f"1/4 synthetic THINGS-EEG2 twin ({settings.scale}) -> {out / 'data'}")
    data = write_dataset(
        SynthConfig(
            out=out / "data",
            scale=settings.scale,
            subjects=list(settings.subjects),
            seed=settings.seed,
            backbones=list(DEMO_BACKBONES),
            images=False,
        )
    )
    encoders = f" with encoders {', '.join(settings.encoders)}" if settings.encoders else ""
    stage(
        f"2/4 sweep {' vs '.join(DEMO_BACKBONES)}{encoders}: {settings.num_samples} trials x "
        f"<= {settings.max_epochs} epochs per cell (Optuna TPE + ASHA)"
    )
    directory = study_dir(storage, name)
    spec = StudySpec(
        name=name,
        backbones=list(DEMO_BACKBONES),
        encoders=list(settings.encoders),
        data=DataSettings(root=str(data), tune_subjects=list(settings.tune_subjects)),
        sweep=SweepSettings(
            num_samples=settings.num_samples,
            max_epochs=settings.max_epochs,
            grace_period=settings.grace_period,
            max_concurrent=2,
            concurrent_cells=1,  # on a laptop's few cores one cell after another is faster
            seed=settings.seed,
        ),
        train={"batch_size": settings.batch_size},
    )
    create_study(spec, directory)
    run_study(directory)
    stage(
        f"3/4 final training of the best configs: subjects {settings.subjects} x "
        f"{settings.seeds} seed(s), tested once on the test split"
    )
    run_final(
        directory,
        best_configs(directory),
        subjects=list(settings.subjects),
        seeds=settings.seeds,
        protocol="intra",
    )
    stage("4/4 report")
    generate_report(load_study(storage, name), directory / "report")
    report = directory / "report" / "report.md"
    stage(f"done: report in {report}")
    return report
