"""Distributed proving on Ray: a local Ray, or a cluster of many nodes (``ray start --head`` plus workers).

Artifacts reach the workers through Ray, never through a shared disk. The
driver puts each artifact (compiled circuit, settings, proving and verifying
keys, SRS) into the object store once, as file bytes, and sends the workers a
spec whose paths are placeholders (:func:`detached_spec`): a worker cannot
read the driver's files even when it runs on the same machine. Each worker
process materialises the artifacts into its own temporary folder the first
time it proves (fetching them from the object store and checking their
sha256) and keeps one :class:`~zkml.proving.warm.WarmProver` per circuit, so
the fetch, the key check and the ezkl import happen once per worker process.
Inputs travel as bytes in the job; proof and witness bytes come back in its
result, and the driver writes them.

Jobs are Ray tasks with ``max_retries``: when a worker process or a whole node
dies mid-job (killed, OOM, a lost machine) Ray runs the job again on a
surviving node. Results come back in input order, each naming the node that
proved it (:attr:`RayProver.split` counts them per node).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from zkml.errors import ProofError, RayUnavailableError
from zkml.proving.warm import BeforeProve, Progress, ProofResult, ProverSpec, proof_file, unique_names, with_paths, witness_file

if TYPE_CHECKING:
    from ray import ObjectRef

log = logging.getLogger(__name__)

# Overrides the parent folder of each worker's private artifact folder (a node-local disk, say).
RAY_CACHE_ENV = "ZKML_RAY_CACHE"
# The artifacts every job needs, by the names :func:`~zkml.proving.warm.with_paths` takes.
ARTIFACTS = ("compiled", "settings", "pk", "vk", "srs")
# Where a detached spec points: a name no worker can open, so a job that skipped materialising fails loudly.
SHIPPED = Path("<shipped-through-ray>")
_WORKER_PREFIX = "zkml-ray-"


@dataclass(frozen=True)
class ShippedArtifact:
    """One artifact in the object store: its name, digest and a reference to its bytes."""

    name: str
    sha256: str
    suffix: str
    refs: tuple[Any, ...]  # a tuple so Ray does not resolve the ObjectRef when the job starts


def worker_cache_dir(explicit: str | None = None) -> Path:
    """The parent of each worker's artifact folder: ``explicit``, else ``$ZKML_RAY_CACHE``, else the node's temp dir."""
    if explicit:
        return Path(explicit)
    override = os.environ.get(RAY_CACHE_ENV)
    if override:
        return Path(override)
    return Path(tempfile.gettempdir())


def private_artifact_dir(parent: Path) -> Path:
    """A fresh folder for this worker process's artifacts, removed when the process exits.

    Folders of worker processes that died without cleaning up (killed with their node) are removed here.
    """
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f"{_WORKER_PREFIX}*"):
        pid = stale.name.removeprefix(_WORKER_PREFIX).split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{_WORKER_PREFIX}{os.getpid()}-", dir=parent))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: leave its folder alone
    return True


def detached_spec(spec: ProverSpec) -> ProverSpec:
    """``spec`` with every artifact path replaced by a placeholder: what a Ray job carries instead of the driver's paths."""
    return with_paths(spec, **{name: SHIPPED / name for name in ARTIFACTS})


def materialise(artifact: ShippedArtifact, folder: Path) -> Path:
    """The artifact as a local file in ``folder``, fetched from the object store unless already there.

    Raises:
        ProofError: the bytes fetched do not hash to the artifact's sha256.
    """
    import ray

    path = folder / f"{artifact.sha256}{artifact.suffix}"
    if path.is_file():
        # Written only by rename after a hash check below, so presence means content.
        return path
    data = ray.get(artifact.refs[0])
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.sha256:
        raise ProofError(f"artifact {artifact.name} arrived corrupt (sha256 {digest[:12]}…)", hint="run the job again")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{artifact.sha256}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    log.info("materialised %s (%d bytes) at %s", artifact.name, len(data), path)
    return path


# One warm prover per (worker process, circuit, keys, artifact parent): Ray reuses worker processes.
_WARM: dict[tuple[str, str, str | None], Any] = {}


def _warm_prover(spec: ProverSpec, artifacts: tuple[ShippedArtifact, ...], cache: str | None, before_prove: BeforeProve | None) -> Any:
    """This process's warm prover for ``spec``, built from artifacts fetched through Ray on first use."""
    from zkml.proving.warm import WarmProver

    key = (spec.circuit.sha256, spec.keys.pk_sha256, cache)
    prover = _WARM.get(key)
    if prover is None:
        folder = private_artifact_dir(worker_cache_dir(cache))
        local = with_paths(spec, **{a.name: materialise(a, folder) for a in artifacts})
        prover = WarmProver(local, folder / "jobs", before_prove=before_prove)
        _WARM[key] = prover
    prover.before_prove = before_prove
    return prover


def _ray_job(
    spec: ProverSpec,
    artifacts: tuple[ShippedArtifact, ...],
    cache: str | None,
    index: int,
    name: str,
    input_bytes: bytes,
    before_prove: BeforeProve | None,
) -> dict[str, Any]:
    """Runs in a Ray worker: materialise (once per process), prove, return the proof bytes and where it ran."""
    import ray

    started = time.perf_counter()
    prover = _warm_prover(spec, artifacts, cache, before_prove)
    setup_seconds = time.perf_counter() - started
    # The job's files live only while it runs: one left behind marks a job its worker died in.
    input_path = prover.out_dir / f"{name}.input.json"
    input_path.write_bytes(input_bytes)
    try:
        result = prover.prove(input_path, index=index, name=name, attempt=0)
        proof_json, witness_json = result.proof.path.read_bytes(), witness_file(prover.out_dir, name).read_bytes()
    finally:
        for leftover in (input_path, proof_file(prover.out_dir, name), witness_file(prover.out_dir, name)):
            leftover.unlink(missing_ok=True)
    return {
        "index": index,
        "proof_json": proof_json,
        "witness_json": witness_json,
        "outputs": result.outputs,
        "witness_seconds": result.witness_seconds,
        "prove_seconds": result.prove_seconds,
        "setup_seconds": setup_seconds,
        "device": result.device,
        "worker": result.worker,
        "node_id": ray.get_runtime_context().get_node_id(),
        "artifact_dir": str(prover.out_dir.parent),
    }


def node_labels() -> dict[str, str]:
    """Every node of the connected cluster, living or dead, by node id: ``address:port``, plus its custom resources.

    The raylet port tells apart nodes that share an address (several nodes on one machine); custom resources
    (``ray start --resources '{"gpu_box": 1}'``) are how operators name nodes.
    """
    import ray

    standard = {"CPU", "GPU", "memory", "object_store_memory"}
    labels = {}
    for node in ray.nodes():
        custom = sorted(k for k in node.get("Resources", {}) if k not in standard and not k.startswith(("node:", "accelerator_type")))
        label = f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
        labels[node["NodeID"]] = f"{label} ({', '.join(custom)})" if custom else label
    return labels


def proving_slots(cpus_per_job: float = 1.0) -> int:
    """How many jobs the connected cluster runs at once: its living nodes' CPUs over ``cpus_per_job`` (at least 1)."""
    import ray

    cpus = sum(node.get("Resources", {}).get("CPU", 0.0) for node in ray.nodes() if node.get("Alive"))
    return max(1, int(cpus // cpus_per_job))


def _init_ray(address: str | None, num_workers: int | None) -> bool:
    """Connect to Ray unless this process already is; True when a local Ray was started here.

    Raises:
        RayUnavailableError: ray is not installed or the address does not answer.
    """
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError("ray is not installed", hint="pip install 'ray==2.60.*' (or use --workers N)") from exc
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
            return False
        ray.init(num_cpus=num_workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
        return True
    except Exception as exc:  # ray raises ConnectionError, RuntimeError, ...
        raise RayUnavailableError(
            f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}",
            hint="check `ray status` on the head node, or drop --ray",
        ) from exc


class _RemoteJob(Protocol):
    """:func:`_ray_job` as ``ray.remote`` wraps it (ray's own type for that is private)."""

    def remote(
        self,
        spec: ProverSpec,
        artifacts: tuple[ShippedArtifact, ...],
        cache: str | None,
        index: int,
        name: str,
        input_bytes: bytes,
        before_prove: BeforeProve | None,
        /,
    ) -> ObjectRef[dict[str, Any]]: ...


class RayProver:
    """Spreads proof jobs over a Ray cluster (or a local Ray it starts).

    Example:
        >>> with RayProver(spec, Path("proofs"), num_workers=2) as prover:
        ...     results = prover.prove_many(inputs)
    """

    def __init__(
        self,
        spec: ProverSpec,
        out_dir: Path,
        *,
        address: str | None = None,
        num_workers: int | None = None,
        max_retries: int = 3,
        cpus_per_job: float = 1.0,
        worker_cache: str | None = None,
        before_prove: BeforeProve | None = None,
    ) -> None:
        """Connect to Ray (or start a local one) and check the spec.

        Args:
            spec: what to prove with.
            out_dir: where the driver writes proofs and witnesses.
            address: a Ray cluster (``auto``, ``ray://host:10001``, ``host:6379``); None starts a local Ray
                (or uses the one already initialised in this process).
            num_workers: CPUs of a local Ray started here (default: all cores).
            max_retries: how often Ray reruns a job whose worker process or node died.
            cpus_per_job: Ray CPUs each job reserves (ezkl proving is itself multi-threaded).
            worker_cache: the folder, on each worker node, under which every worker process makes its own
                artifact folder (default ``$ZKML_RAY_CACHE``, else the node's temp dir).
            before_prove: called in the worker before each proof with (index, 0).

        Raises:
            RayUnavailableError: ray is not installed or the address does not answer.
            KeysError: the keys belong to another circuit or SRS.
        """
        from zkml.keys import check_keys_match

        check_keys_match(spec.keys, spec.circuit, spec.srs)
        self._started_here = _init_ray(address, num_workers)
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.max_retries = max_retries
        self.cpus_per_job = cpus_per_job
        self.worker_cache = worker_cache
        self.before_prove = before_prove
        self._artifacts: tuple[ShippedArtifact, ...] | None = None
        self._remote: _RemoteJob | None = None
        self._detached = detached_spec(spec)
        self._labels: dict[str, str] = {}
        self._remember_nodes()
        # Proofs made per node (its label) over this prover's life; the last run's alone in `last_split`.
        self.split: Counter[str] = Counter()
        self.last_split: Counter[str] = Counter()

    def _remember_nodes(self) -> None:
        """Learn the labels of nodes that joined; a node keeps the label it had alive (a dead one loses its resources)."""
        for node_id, label in node_labels().items():
            self._labels.setdefault(node_id, label)

    @property
    def slots(self) -> int:
        """Jobs the connected cluster runs at once (its CPUs over ``cpus_per_job``)."""
        return proving_slots(self.cpus_per_job)

    def __enter__(self) -> RayProver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut down a local Ray this object started (a cluster is left alone)."""
        if self._started_here:
            import ray

            ray.shutdown()
            self._started_here = False

    def ship(self) -> tuple[ShippedArtifact, ...]:
        """Put every artifact into the object store (once per RayProver); after this the driver's files are not read."""
        if self._artifacts is None:
            import ray

            s = self.spec
            files = {
                "compiled": (s.circuit.path, s.circuit.sha256),
                "settings": (s.circuit.settings.path, s.circuit.settings.sha256),
                "pk": (s.keys.pk_path, s.keys.pk_sha256),
                "vk": (s.keys.vk_path, s.keys.vk_sha256),
                "srs": (s.srs.path, s.srs.sha256),
            }
            shipped = []
            for name, (path, digest) in files.items():
                data = Path(path).read_bytes()
                if hashlib.sha256(data).hexdigest() != digest:
                    raise ProofError(f"{path} changed since its hash was taken", hint="rebuild the workspace and start again")
                shipped.append(ShippedArtifact(name, digest, Path(path).suffix, (ray.put(data),)))
            self._artifacts = tuple(shipped)
        return self._artifacts

    def _job(self) -> _RemoteJob:
        if self._remote is None:
            import ray

            self._remote = ray.remote(max_retries=self.max_retries, num_cpus=self.cpus_per_job)(_ray_job)
        return self._remote

    def prove_many(self, inputs: Sequence[Path], *, progress: Progress | None = None) -> list[ProofResult]:
        """Prove every input on the cluster; results in input order.

        Raises:
            ProofError: a job failed after its retries (the message carries the worker's error).
            ZkmlError: an input failed on its own (bad shape, out of range).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        artifacts = self.ship()
        job = self._job()
        names = unique_names(inputs)
        refs = [
            job.remote(self._detached, artifacts, self.worker_cache, index, name, Path(path).read_bytes(), self.before_prove)
            for index, (path, name) in enumerate(zip(inputs, names, strict=True))
        ]
        raw = self._gather(refs, progress)
        labels = self._labels
        results = [self._write_result(index, Path(inputs[index]), name, raw[index], labels) for index, name in enumerate(names)]
        self.last_split = Counter(r.node for r in results if r.node is not None)
        self.split.update(self.last_split)
        log.info("proved %d inputs on Ray: %s", len(results), ", ".join(f"{n} {node}" for node, n in sorted(self.last_split.items())))
        return results

    def _gather(self, refs: list[ObjectRef[dict[str, Any]]], progress: Progress | None) -> dict[int, dict[str, Any]]:
        """Wait for every job; their returned dicts by job index."""
        import ray

        from zkml.errors import ZkmlError

        by_ref = {ref: i for i, ref in enumerate(refs)}
        raw: dict[int, dict[str, Any]] = {}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            try:
                item = raw[by_ref[done[0]]] = ray.get(done[0])
                if item["node_id"] not in self._labels:
                    self._remember_nodes()
            except ray.exceptions.RayTaskError as exc:
                # The job raised: a ZkmlError (bad input, ...) reaches the caller as itself.
                cause = exc.cause if isinstance(getattr(exc, "cause", None), ZkmlError) else None
                if cause is not None:
                    raise cause from exc
                raise ProofError(f"proof job {by_ref[done[0]]} failed on Ray: {str(exc).splitlines()[0]}") from exc
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayError) as exc:
                raise ProofError(
                    f"proof job {by_ref[done[0]]} failed after {self.max_retries} retries: {type(exc).__name__}",
                    hint="a worker kept dying; check its memory (each holds the proving key)",
                ) from exc
            if progress is not None:
                progress(len(raw), len(refs))
        return raw

    def _write_result(self, index: int, input_path: Path, name: str, item: dict[str, Any], labels: dict[str, str]) -> ProofResult:
        """Write one job's proof and witness on the driver and describe them."""
        from zkml.artifacts import Proof
        from zkml.prove import proof_size
        from zkml.workspace import write_bytes_atomic

        proof_path = proof_file(self.out_dir, name)
        write_bytes_atomic(proof_path, item["proof_json"])
        write_bytes_atomic(witness_file(self.out_dir, name), item["witness_json"])
        proof = Proof(proof_path, hashlib.sha256(item["proof_json"]).hexdigest(), proof_size(proof_path), self.spec.circuit.sha256)
        return ProofResult(
            index=index,
            input=input_path,
            proof=proof,
            outputs=tuple(item["outputs"]),
            witness_seconds=item["witness_seconds"],
            prove_seconds=item["prove_seconds"],
            device=item["device"],
            worker=item["worker"],
            attempt=0,
            node=labels.get(item["node_id"], item["node_id"][:12]),
        )
