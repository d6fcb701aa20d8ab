"""A multi-node Ray cluster on this machine: ``ray start --head`` plus worker nodes, each its own process tree.

Used by the cluster tests (tests/proving/test_ray_cluster.py, tests/serve/test_backends.py) and by
``benchmarks/ray_cluster.py``. Every node is ``ray start --block`` in a session of its own, so the node,
its raylet and every worker process it spawned can be killed together (a lost machine) and nothing is
left running afterwards. ``ray stop`` is never used: it would stop every Ray on the machine, other
people's included.

Each node's processes get their own ``TMPDIR`` (``<root>/<node>/tmp``): a zkml worker makes its artifact
folder there (:func:`zkml.proving.ray_cluster.private_artifact_dir`), which shows which node fetched the
artifacts and which jobs were in flight on a node when it died. The cluster uses Ray's token
authentication with a fresh token; drivers (``zkml prove-many --ray``, ``zkml serve start --ray``)
need :attr:`LocalRayCluster.env` to connect.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAY = str(Path(sys.executable).parent / "ray")
# A dead node is noticed in ~3 s rather than Ray's default ~30 s (missed health checks), so retries start sooner.
FAST_FAILURE_DETECTION = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RayNode:
    """One ``ray start --block`` process (the session leader of its node's processes)."""

    name: str
    proc: subprocess.Popen[bytes]
    folder: Path

    @property
    def tmp(self) -> Path:
        return self.folder / "tmp"

    @property
    def log(self) -> Path:
        return self.folder / "ray-start.log"

    def artifact_folders(self) -> list[Path]:
        """The artifact folders zkml worker processes made on this node."""
        return sorted(self.tmp.glob("zkml-ray-*"))

    def artifact_files(self) -> set[str]:
        """Names of the files in those folders now (a folder may vanish as its worker exits)."""
        names: set[str] = set()
        for folder in self.artifact_folders():
            with contextlib.suppress(FileNotFoundError):
                names.update(p.name for p in folder.iterdir() if p.is_file())
        return names

    def jobs_in_flight(self) -> list[Path]:
        """Input files of jobs running on this node now (or that were running when it died)."""
        return sorted(self.tmp.glob("zkml-ray-*/jobs/*.input.json"))

    def pids(self) -> list[int]:
        """Every living process of this node: the members of its session."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == self.proc.pid and fields[0] != "Z":  # fields[3] is the session id
                    found.append(int(stat.parent.name))
        return found

    def signal_all(self, signum: int) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


@dataclass
class LocalRayCluster:
    """A head node and worker nodes on 127.0.0.1, under ``root``.

    Attributes:
        root: where every node keeps its Ray temp dir, its ``TMPDIR`` and its log.
        workers: worker node name -> CPUs (each node also gets a custom resource named after it).
        head_cpus: CPUs of the head node (0: the head proves nothing, it only schedules and stores objects).
        object_store_mb: object store size of each node.
    """

    root: Path
    workers: dict[str, int] = field(default_factory=lambda: {"worker_a": 1, "worker_b": 1})
    head_cpus: int = 0
    object_store_mb: int = 300
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    nodes: dict[str, RayNode] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment a driver needs to join (Ray's token authentication)."""
        return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def __enter__(self) -> LocalRayCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 180.0) -> LocalRayCluster:
        """Start the head, then every worker node; return once each says it is up."""
        self._start_node("head", ["--head", "--port", str(self.port), "--num-cpus", str(self.head_cpus), "--include-dashboard", "false"])
        self._wait_up([self.nodes["head"]], timeout)
        for name, cpus in self.workers.items():
            resources = json.dumps({name: 1})
            self._start_node(name, ["--address", self.address, "--num-cpus", str(cpus), "--resources", resources])
        self._wait_up([self.nodes[name] for name in self.workers], timeout)
        return self

    def _start_node(self, name: str, args: list[str]) -> None:
        folder = self.root / name
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        env = {**self.env, **FAST_FAILURE_DETECTION, "TMPDIR": str(folder / "tmp")}
        common = ["--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--temp-dir", str(folder / "ray")]
        common += ["--object-store-memory", str(self.object_store_mb * 2**20)]
        with (folder / "ray-start.log").open("ab") as log:
            proc = subprocess.Popen([RAY, "start", *args, *common], env=env, stdout=log, stderr=log, start_new_session=True)
        self.nodes[name] = RayNode(name, proc, folder)

    def _wait_up(self, nodes: list[RayNode], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(nodes)
        while waiting:
            for node in list(waiting):
                if node.proc.poll() is not None:
                    raise RuntimeError(f"ray node {node.name} exited: {node.log.read_text()[-2000:]}")
                if "Ray runtime started" in node.log.read_text(errors="replace"):
                    waiting.remove(node)
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"ray nodes {[n.name for n in waiting]} did not start: {waiting[0].log.read_text()[-2000:]}")
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL a node and every process it runs, as a lost machine: no clean-up of any kind."""
        node = self.nodes[name]
        node.signal_all(signal.SIGKILL)
        node.proc.wait(timeout=30)

    def kill_mid_job(self, name: str) -> list[str]:
        """SIGKILL node ``name`` at a moment it holds a job; the names of the jobs it held (to be retried elsewhere).

        The node is frozen (SIGSTOP) before its jobs are read, so a job seen in flight cannot finish before the kill:
        a worker deletes a job's files before it returns the job's result.
        """
        node = self.nodes[name]
        while True:
            if node.jobs_in_flight():
                node.signal_all(signal.SIGSTOP)
                held = [p.name.removesuffix(".input.json") for p in node.jobs_in_flight()]
                if held:
                    self.kill(name)
                    return held
                node.signal_all(signal.SIGCONT)
            if node.proc.poll() is not None:
                raise RuntimeError(f"ray node {name} exited before it took a job")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop every node (workers first), SIGKILL whatever is left; safe to call twice, and after a failed start."""
        for node in reversed(list(self.nodes.values())):
            node.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for node in reversed(list(self.nodes.values())):
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for node in self.nodes.values():
            for _ in range(50):
                if not node.pids():
                    break
                node.signal_all(signal.SIGKILL)
                time.sleep(0.1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout=5)

    def leftover_pids(self) -> list[int]:
        return [pid for node in self.nodes.values() for pid in node.pids()]


@contextlib.contextmanager
def running_cluster(**options: Any) -> Iterator[LocalRayCluster]:
    """A :class:`LocalRayCluster` in a fresh temp folder; every process of it stopped and the folder removed afterwards.

    Raises:
        AssertionError: a process of the cluster outlived it.
    """
    # Short: Ray's unix sockets live under each node's temp dir (a socket path must stay under 108 bytes).
    root = Path(tempfile.mkdtemp(prefix="zkml-cluster-"))
    cluster = LocalRayCluster(root, **options)
    try:
        with cluster:
            yield cluster
        assert not cluster.leftover_pids(), "ray processes outlived the cluster"
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
