"""Starting or joining Ray: local by default, an existing cluster with ``--address``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from study.trust import (
    check_complete,
    check_restore,
    forget_digests,
    read_state,
    record_digests,
    restorable,
)

logger = logging.getLogger(__name__)
RAY_ENV_DEFAULTS = {
    # Ray 2.60 would otherwise rebuild the uv environment in every worker (see README).
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_AUTH_MODE": "disabled",
    # Save the experiment state about every second, so a killed driver loses at most ~1 epoch.
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
    # Keep Ray Tune's own progress table, without its per-run banner noise.
    "RAY_AIR_NEW_OUTPUT": "0",
}


def apply_ray_env() -> None:
    for key, value in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def init_ray(address: str | None = None, num_cpus: int | None = None, dashboard: bool = False):
    """Start a local Ray (dashboard off or on localhost only) or join the cluster at ``address``."""
    apply_ray_env()
    import ray

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            log_to_driver=True,
        )
    return ray


def restore_tuner(
    study_dir: Path, experiment: Path, trainable: Any, label: str, what: str
) -> Any | None:
    """The interrupted Tuner saved at ``experiment`` (errored trials retried), or None.

    The single place a Tuner is restored: refused (one-line error) unless the trust checks of
    ``study.trust`` pass, since restoring unpickles files of the study folder. None also when
    the driver died after ``fit()`` wrote ``tuner.pkl`` but before the first experiment state:
    Ray's restore would then "restart" the experiment with a searcher that stops after one
    trial (seen with concurrent cells), so the caller builds a fresh Tuner instead.
    """
    check_restore(study_dir, experiment)
    if not restorable(experiment):
        return None
    if read_state(experiment) is None:  # no trial folders either, or check_restore refused
        logger.info("[%s] the interrupted %s had not started: starting it afresh", label, what)
        return None
    from ray import tune

    logger.info("[%s] resuming the interrupted %s in %s", label, what, experiment)
    return tune.Tuner.restore(str(experiment), trainable=trainable, resume_errored=True)


def fit_checked(tuner: Any, experiment: Path, budget: int) -> Any:
    """``tuner.fit()``, recording the state files' digests as the driver leaves it, then
    checking that no kept trial vanished and the whole budget ran (see ``check_complete``)."""
    kept = read_state(experiment) or {}
    forget_digests(experiment)
    try:
        grid = tuner.fit()
    finally:
        try:
            record_digests(experiment)
        except OSError as exc:
            logger.warning("driver digests of %s not recorded: %s", experiment, exc)
    check_complete(experiment, budget, kept)
    return grid
