"""zkml.proving.ray_cluster on a local Ray and on a real cluster of three nodes.

Local Ray: same proofs as a serial run, in order, from artifacts each worker fetched through the object
store; a killed worker's job is retried. Cluster (slow): ``ray start --head`` plus two worker nodes,
driven by ``zkml prove-many --ray ADDRESS``: work lands on both worker nodes, and a worker node killed
mid-run costs a retry, not a proof.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import public_instances

from .conftest import Reference, check_same_as_serial
from .faults import KillOnce
from .ray_nodes import LocalRayCluster, running_cluster

ZKML = Path(sys.executable).parent / "zkml"


def test_worker_folders_live_under_the_explicit_folder_else_the_env_else_the_nodes_temp_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    from zkml.proving.ray_cluster import RAY_CACHE_ENV, worker_cache_dir

    monkeypatch.delenv(RAY_CACHE_ENV, raising=False)
    assert worker_cache_dir() == Path(tempfile.gettempdir())
    monkeypatch.setenv(RAY_CACHE_ENV, str(tmp_path / "env"))
    assert worker_cache_dir() == tmp_path / "env"
    assert worker_cache_dir(str(tmp_path / "given")) == tmp_path / "given"


def test_a_worker_folder_is_private_and_a_dead_workers_folder_is_swept(tmp_path: Path) -> None:
    import os

    from zkml.proving.ray_cluster import private_artifact_dir

    gone = tmp_path / "zkml-ray-999999999-x"  # no such pid can be alive (above pid_max)
    gone.mkdir()
    mine = private_artifact_dir(tmp_path)
    other = private_artifact_dir(tmp_path)
    assert mine != other and mine.name.startswith(f"zkml-ray-{os.getpid()}-")
    assert not gone.exists() and mine.exists()  # a living process's folder is kept


def test_a_cached_artifact_is_not_fetched_again(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from zkml.proving.ray_cluster import ShippedArtifact, materialise

    # Cache files appear only by rename after a hash check, so presence alone is trusted: no object store needed.
    (tmp_path / "abc.key").write_bytes(b"cached")
    assert materialise(ShippedArtifact("pk", "abc", ".key", (None,)), tmp_path) == tmp_path / "abc.key"


def test_ray_returns_the_serial_proofs_in_order_from_private_artifact_folders(
    local_ray: Any, tiny_spec: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    from zkml.proving.ray_cluster import RayProver

    cache = tmp_path / "worker-cache"
    with RayProver(tiny_spec, tmp_path / "out", worker_cache=str(cache)) as prover:
        results = prover.prove_many(tiny_inputs)
        assert not prover._started_here  # the session's Ray was reused, not restarted
    check_same_as_serial(results, serial, tiny_spec)
    # Each worker process fetched the artifacts into a folder of its own, named by hash.
    folders = sorted(cache.glob("zkml-ray-*"))
    assert folders
    for folder in folders:
        cached = {p.name for p in folder.iterdir() if p.is_file()}
        for digest in (tiny_spec.keys.pk_sha256, tiny_spec.srs.sha256, tiny_spec.circuit.sha256):
            assert any(name.startswith(digest) for name in cached)
        assert not list((folder / "jobs").iterdir())  # a finished job leaves nothing behind
    assert all((tmp_path / "out" / f"{p.stem}.proof.json").is_file() for p in tiny_inputs)
    assert prover.last_split == {results[0].node: len(tiny_inputs)}  # one local node


def test_ray_retries_the_job_of_a_killed_worker(
    local_ray: Any, tiny_spec: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    from zkml.proving.ray_cluster import RayProver

    hook = KillOnce(tmp_path / "faults", target=1)
    with RayProver(tiny_spec, tmp_path / "out", worker_cache=str(tmp_path / "cache"), before_prove=hook) as prover:
        results = prover.prove_many(tiny_inputs)
    assert (tmp_path / "faults" / "killed").exists()
    assert hook.calls(1) == 2  # started, killed with its worker, run again
    check_same_as_serial(results, serial, tiny_spec)


def test_a_job_carries_placeholders_not_the_drivers_paths(tiny_spec: Any) -> None:
    from zkml.proving.ray_cluster import SHIPPED, detached_spec

    shipped = detached_spec(tiny_spec)
    paths = [shipped.circuit.path, shipped.circuit.settings.path, shipped.keys.pk_path, shipped.keys.vk_path, shipped.srs.path]
    assert all(path.parent == SHIPPED and not path.exists() for path in paths)
    # Only where the bytes are changed: the hashes the worker checks them against are the driver's.
    assert (shipped.keys.pk_sha256, shipped.srs.sha256, shipped.circuit.sha256) == (
        tiny_spec.keys.pk_sha256,
        tiny_spec.srs.sha256,
        tiny_spec.circuit.sha256,
    )


@pytest.mark.slow
def test_workers_prove_with_the_drivers_files_gone(
    local_ray: Any, tiny: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    """Artifacts reach the workers through the object store: deleting the driver's workspace after shipping changes nothing."""
    import shutil

    from zkml.pipeline import Pipeline
    from zkml.proving.ray_cluster import RayProver
    from zkml.proving.warm import ProverSpec
    from zkml.workspace import Workspace

    copy = tmp_path / "driver" / tiny.workspace.name
    shutil.copytree(tiny.workspace, copy)
    spec = ProverSpec.from_pipeline(Pipeline(tiny.pipeline.config, Workspace(copy)), device="cpu")
    with RayProver(spec, tmp_path / "out", worker_cache=str(tmp_path / "workers")) as prover:
        prover.ship()
        shutil.rmtree(tmp_path / "driver")
        results = prover.prove_many(tiny_inputs)
    assert [public_instances(r.proof) for r in results] == serial.instances
    assert all(r.node is not None for r in results) and sum(prover.split.values()) == len(tiny_inputs)


# -- a real cluster: `ray start --head` (no CPUs: it schedules and holds the objects) plus two worker nodes


@pytest.fixture
def cluster() -> Iterator[LocalRayCluster]:
    """A head and two 1-CPU worker nodes on 127.0.0.1, every process of them gone afterwards (even on failure)."""
    pytest.importorskip("ray")
    with running_cluster() as nodes:
        yield nodes


def cluster_inputs(mlp: Any, folder: Path, count: int) -> Path:
    """``count`` distinct inputs of the example MLP near its sample input (inside the calibrated range), one file each."""
    import numpy as np

    base = np.asarray(json.loads(Path(mlp.pipeline.config.input).read_text())["input_data"][0], dtype=float)
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    for index in range(count):
        sample = base + rng.normal(scale=0.05, size=base.shape)
        (folder / f"in{index:02d}.json").write_text(json.dumps({"input_data": [[float(x) for x in sample]]}))
    return folder


def prove_many_on(cluster: LocalRayCluster, mlp: Any, inputs: Path, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``zkml prove-many WORKSPACE --ray ADDRESS`` as a driver process of its own, over a private copy of the tuned MLP workspace.

    The MLP (tuned settings, an 8.6 MB proving key, ~0.3 s a proof) rather than the tiny circuit: a workspace
    folder given to the CLI rebuilds only what its recorded config (here circuits/mlp_regressor) says.
    """
    import shutil

    workspace = tmp_path / "build" / mlp.workspace.name
    shutil.copytree(mlp.workspace, workspace)
    report = tmp_path / "report.json"
    args = [str(ZKML), "prove-many", str(workspace), str(inputs), "-o", str(tmp_path / "proofs"), "--device", "cpu"]
    args += ["--ray", cluster.address, "--json", str(report)]
    log = (tmp_path / "prove-many.log").open("wb")
    return subprocess.Popen(args, env=cluster.env, stdout=log, stderr=log), report


def finished(proc: subprocess.Popen[bytes], report: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """The driver's exit checked, then its per-proof rows."""
    code = proc.wait(timeout=600)
    assert code == 0, (tmp_path / "prove-many.log").read_text()[-3000:]
    rows = json.loads(report.read_text())["proofs"]
    assert all(row["verified"] is True for row in rows)
    return list(rows)


@pytest.mark.slow
def test_a_head_and_two_worker_nodes_prove_every_input_with_work_on_both(cluster: LocalRayCluster, mlp: Any, tmp_path: Path) -> None:
    count = 12
    proc, report = prove_many_on(cluster, mlp, cluster_inputs(mlp, tmp_path / "inputs", count), tmp_path)
    fetched: dict[str, set[str]] = {name: set() for name in cluster.nodes}
    while proc.poll() is None:  # artifact folders live as long as their worker process: look while it runs
        for name, node in cluster.nodes.items():
            fetched[name].update(node.artifact_files())
        time.sleep(0.05)
    rows = finished(proc, report, tmp_path)
    assert sorted(row["index"] for row in rows) == list(range(count))
    split = Counter(row["node"] for row in rows)
    by_worker = {name: sum(n for label, n in split.items() if f"({name})" in label) for name in cluster.workers}
    assert sum(by_worker.values()) == count and all(n > 0 for n in by_worker.values()), split  # both did work, the head none
    # Each worker node fetched the proving key and SRS through Ray, into its own folders; the head fetched nothing.
    pk, srs = _digests(tmp_path / "build" / mlp.workspace.name)
    for name in cluster.workers:
        assert any(f.startswith(pk) for f in fetched[name]) and any(f.startswith(srs) for f in fetched[name]), fetched
    assert not fetched["head"]


@pytest.mark.slow
def test_a_worker_node_killed_mid_run_costs_retries_not_proofs(cluster: LocalRayCluster, mlp: Any, tmp_path: Path) -> None:
    count = 16
    proc, report = prove_many_on(cluster, mlp, cluster_inputs(mlp, tmp_path / "inputs", count), tmp_path)
    # Killed while it holds a job: that job's files stay where the dead worker left them.
    lost = set(cluster.kill_mid_job("worker_b"))
    assert lost and proc.poll() is None  # mid-run
    assert {p.name.removesuffix(".input.json") for p in cluster.nodes["worker_b"].jobs_in_flight()} == lost
    rows = finished(proc, report, tmp_path)
    assert sorted(row["index"] for row in rows) == list(range(count))  # all proved, none lost
    by_name = {Path(row["input"]).stem: row for row in rows}
    assert all("(worker_a)" in by_name[name]["node"] for name in lost)  # retried on the surviving node
    assert cluster.nodes["worker_a"].proc.poll() is None


def _digests(workspace: Path) -> tuple[str, str]:
    """The proving key's and the SRS's sha256 (the names their materialised copies start with)."""
    keys = json.loads((workspace / "keys.json").read_text())
    return str(keys["pk_sha256"]), str(keys["srs_sha256"])
