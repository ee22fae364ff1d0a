"""A real two-node Ray cluster on this machine: a sweep runs trials on both nodes, then the
worker node dies while one of its trials runs; the trial resumes from its last checkpoint on the
head node and the study finishes with every trial's history.

The nodes are started with the commands of docs/cluster.md (`ray start --head`, then
`ray start --address` for the worker), each with its own temp dir and ports, run in the
foreground (`--block`) so that ending the `ray start` process ends its node.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml

from study.results import FINISHED, read_trials

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {
    **os.environ,
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_AUTH_MODE": "disabled",
    # a dead node is noticed within about a second (default: about 15 s)
    "RAY_health_check_period_ms": "300",
    "RAY_health_check_failure_threshold": "3",
}
EPOCHS = 16
NODES_SCRIPT = """
import json, sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + 60
while sum(n["Alive"] for n in ray.nodes()) < 2 and time.monotonic() < deadline:
    time.sleep(0.2)
ids = {k: n["NodeID"] for n in ray.nodes() if n["Alive"] for k in n["Resources"]}
print("NODES", json.dumps(ids))
"""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def node_command(temp_dir: Path, resource: str, head_port: int, head: bool) -> list[str]:
    """`ray start` for one node of the test cluster: 1 CPU, its own temp dir and ports."""
    listen, grpc, metrics, runtime_env = _free_ports(4)
    place = (
        ["--head", f"--port={head_port}", "--include-dashboard=false"]
        if head
        else [f"--address=127.0.0.1:{head_port}"]
    )
    return [
        RAY, "start", "--block", *place, "--node-ip-address=127.0.0.1", "--num-cpus=1",
        "--num-gpus=0", f"--resources={json.dumps({resource: 1})}", f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={listen}", f"--dashboard-agent-grpc-port={grpc}",
        f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={runtime_env}",
        "--disable-usage-stats",
    ]  # fmt: skip


@dataclass
class TwoNodes:
    address: str
    head: subprocess.Popen
    worker: subprocess.Popen
    node_ids: dict[str, str]  # "head_node" / "worker_node" -> Ray node id

    def kill_worker_node(self) -> None:
        """SIGKILL the worker node's raylet (a node failure); its `ray start` then ends the rest."""
        raylets = [
            p for p in psutil.Process(self.worker.pid).children(recursive=True)
            if p.name() == "raylet"
        ]  # fmt: skip
        assert len(raylets) == 1, raylets
        raylets[0].send_signal(signal.SIGKILL)


def _stop(process: subprocess.Popen) -> None:
    """End one node: SIGTERM to its `ray start --block` (which stops the node's processes),
    then SIGKILL to whichever of those processes is left."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _, alive = psutil.wait_procs(family, timeout=10)
    for leftover in alive:
        leftover.kill()


@pytest.fixture
def two_nodes() -> Iterator[TwoNodes]:
    root = Path(tempfile.mkdtemp(prefix="rn", dir="/tmp"))  # short: Ray's socket paths
    (port,) = _free_ports(1)
    logs = {name: open(root / f"{name}.log", "wb") for name in ("head", "worker")}  # noqa: SIM115
    started: list[subprocess.Popen] = []
    try:
        head = subprocess.Popen(
            node_command(root / "h", "head_node", port, head=True),
            env=ENV, stdout=logs["head"], stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(head)
        _wait_for(lambda: _accepts(port) or head.poll() is not None, 60, "the head node")
        assert head.poll() is None, (root / "head.log").read_text()[-2000:]
        worker = subprocess.Popen(
            node_command(root / "w", "worker_node", port, head=False),
            env=ENV, stdout=logs["worker"], stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(worker)
        address = f"127.0.0.1:{port}"
        nodes = subprocess.run(
            [sys.executable, "-c", NODES_SCRIPT, address],
            env=ENV, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        said = [line for line in nodes.stdout.splitlines() if line.startswith("NODES ")]
        node_ids = json.loads(said[0].removeprefix("NODES ")) if said else {}
        tails = {n: (root / f"{n}.log").read_text()[-1500:] for n in logs}
        assert {"head_node", "worker_node"} <= set(node_ids), (nodes.stderr[-1500:], tails)
        yield TwoNodes(address, head, worker, node_ids)
    finally:
        for process in reversed(started):
            _stop(process)
        for log in logs.values():
            log.close()
        shutil.rmtree(root, ignore_errors=True)


def live_rows(experiment: Path) -> dict[str, list[dict]]:
    """Each trial's result rows so far, read while the sweep runs (Ray rewrites its experiment
    state file in place, so it is not read here; a line being written is skipped)."""
    rows: dict[str, list[dict]] = {}
    for result in experiment.glob("trial_*/result.json"):
        for line in result.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                rows.setdefault(row["trial_id"], []).append(row)
    return rows


def test_sweep_on_two_nodes_survives_losing_the_worker(
    two_nodes: TwoNodes, twin: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "studies"  # a path both nodes see (here: the same machine)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({"train": {"checkpoint_every": 1, "batch_size": 64}}))
    sweep = [
        sys.executable, "-m", "study.cli", "sweep", "--data", str(twin), "--backbones", "synclr",
        "--name", "two", "--storage", str(storage), "--config", str(config),
        "--num-samples", "3", "--max-epochs", str(EPOCHS), "--scheduler", "none",
        "--max-concurrent", "2", "--cpus-per-trial", "1", "--max-failures", "2",
        "--tune-subjects", "1", "--address", two_nodes.address,
    ]  # fmt: skip
    worker_id, head_id = two_nodes.node_ids["worker_node"], two_nodes.node_ids["head_node"]
    experiment = storage / "two" / "synclr"
    log = tmp_path / "sweep.log"
    driver = subprocess.Popen(sweep, env=ENV, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    victim = {}

    def worker_trial_checkpointed() -> bool:
        assert driver.poll() is None, "the sweep ended before the worker node was removed"
        for trial_id, rows in live_rows(experiment).items():
            on_worker = [r for r in rows if r.get("node_id") == worker_id]
            checkpointed = [r for r in on_worker if r.get("checkpoint_dir_name")]
            if checkpointed and len(rows) < EPOCHS - 4:
                victim.update(id=trial_id, epoch=len(rows))
                return True
        return False

    try:
        _wait_for(worker_trial_checkpointed, 300, "a checkpointed trial on the worker node")
        two_nodes.kill_worker_node()
        driver.wait(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    said = [line for line in log.read_text().splitlines() if "[state-dump]" not in line]
    assert driver.returncode == 0, "\n".join(said[-60:])
    trials = read_trials(experiment)
    assert len(trials) == 3 and all(t.status == FINISHED for t in trials)
    assert all(t.epochs == EPOCHS for t in trials)
    (killed,) = [t for t in trials if t.trial_id == victim["id"]]
    nodes = [r["node_id"] for r in killed.rows]
    epochs = [int(r["epoch"]) for r in killed.rows]
    switch = nodes.index(head_id)
    assert set(nodes[:switch]) == {worker_id} and set(nodes[switch:]) == {head_id}
    assert epochs[:switch] == list(range(1, switch + 1))  # its history before the failure
    resumed_at = epochs[switch]
    assert 1 < resumed_at <= switch + 1  # continued from a checkpoint, not from scratch
    assert epochs[switch:] == list(range(resumed_at, EPOCHS + 1))
    assert "startup_first_report_s" in killed.rows[switch]  # a new run of the trial started
    status = subprocess.run(
        [sys.executable, "-m", "study.cli", "status", "--name", "two", "--storage", str(storage)],
        env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    first = "epoch 1" if switch == 1 else f"epochs 1-{switch}"
    ran = f"{first} on node {worker_id[:8]}, epochs {resumed_at}-{EPOCHS} on node"
    assert f"trial {killed.trial_id} was restarted ({ran} {head_id[:8]}) after:" in status.stdout
    assert "node was terminated" in status.stdout
    print(status.stdout)
