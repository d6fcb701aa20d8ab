"""Distributed proving on Ray.

The driver puts each artifact (compiled circuit, settings, proving and
verifying keys, SRS) into the Ray object store once, as file bytes. Jobs carry
only *references* to them, wrapped so Ray does not fetch them eagerly; a worker
materialises each artifact into a worker-local cache folder named by its
sha256 the first time it needs it, and later jobs on that machine find it on
disk without touching the object store. Each worker process keeps one
:class:`~zkml.proving.warm.WarmProver` per circuit, so the key check and ezkl import
happen once per worker.

Jobs are Ray tasks with ``max_retries``: when a worker process dies mid-job
(killed, OOM, segfault) Ray runs the job again on another worker. Results come
back in input order; proof bytes return to the driver, which writes them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from zkml.errors import ProofError, RayUnavailableError
from zkml.proving.warm import BeforeProve, Progress, ProofResult, ProverSpec, proof_file, unique_names, with_paths, witness_file

if TYPE_CHECKING:
    from ray import ObjectRef

log = logging.getLogger(__name__)

# Overrides where workers keep materialised artifacts (a node-local disk, say).
RAY_CACHE_ENV = "ZKML_RAY_CACHE"


@dataclass(frozen=True)
class ShippedArtifact:
    """One artifact in the object store: its name, digest and a reference to its bytes."""

    name: str
    sha256: str
    suffix: str
    refs: tuple[Any, ...]  # a tuple so Ray does not resolve the ObjectRef when the job starts


def worker_cache_dir(explicit: str | None = None) -> Path:
    """Where a worker keeps materialised artifacts (``$ZKML_RAY_CACHE``, else the zkml cache)."""
    if explicit:
        return Path(explicit)
    override = os.environ.get(RAY_CACHE_ENV)
    if override:
        return Path(override)
    from zkml.workspace import cache_dir

    return cache_dir() / "ray-artifacts"


def materialise(artifact: ShippedArtifact, cache: Path) -> Path:
    """The artifact as a local file, fetched from the object store only if not yet cached.

    Raises:
        ProofError: the bytes fetched do not hash to the artifact's sha256.
    """
    import ray

    path = cache / f"{artifact.sha256}{artifact.suffix}"
    if path.is_file():
        # Written only by rename after a hash check below, so presence means content.
        return path
    data = ray.get(artifact.refs[0])
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.sha256:
        raise ProofError(f"artifact {artifact.name} arrived corrupt (sha256 {digest[:12]}…)", hint="run the job again")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{artifact.sha256}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    log.info("materialised %s (%d bytes) at %s", artifact.name, len(data), path)
    return path


# One warm prover per (worker process, circuit, keys): Ray reuses worker processes.
_WARM: dict[tuple[str, str], Any] = {}


def _ray_job(
    spec: ProverSpec,
    artifacts: tuple[ShippedArtifact, ...],
    cache: str | None,
    index: int,
    name: str,
    input_bytes: bytes,
    before_prove: BeforeProve | None,
) -> dict[str, Any]:
    """Runs in a Ray worker: materialise, prove, return the proof bytes."""
    from zkml.proving.warm import WarmProver

    key = (spec.circuit.sha256, spec.keys.pk_sha256)
    prover = _WARM.get(key)
    started = time.perf_counter()
    if prover is None:
        root = worker_cache_dir(cache)
        local = with_paths(spec, **{a.name: materialise(a, root) for a in artifacts})
        prover = WarmProver(local, root / "jobs" / spec.circuit.sha256[:16], before_prove=before_prove)
        _WARM[key] = prover
    prover.before_prove = before_prove
    setup_seconds = time.perf_counter() - started
    work = prover.out_dir / f"{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    input_path = work / f"{name}.input.json"
    input_path.write_bytes(input_bytes)
    # Write into a per-process folder: two workers on one machine share the cache.
    previous = prover.out_dir
    prover.out_dir = work
    try:
        result = prover.prove(input_path, index=index, name=name, attempt=0)
    finally:
        prover.out_dir = previous
    return {
        "index": index,
        "proof_json": result.proof.path.read_bytes(),
        "witness_json": witness_file(work, name).read_bytes(),
        "outputs": result.outputs,
        "witness_seconds": result.witness_seconds,
        "prove_seconds": result.prove_seconds,
        "setup_seconds": setup_seconds,
        "device": result.device,
        "worker": result.worker,
        "node": os.uname().nodename,
    }


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
            max_retries: how often Ray reruns a job whose worker died.
            cpus_per_job: Ray CPUs each job reserves (ezkl proving is itself multi-threaded).
            worker_cache: folder for materialised artifacts on each worker (default ``$ZKML_RAY_CACHE``
                or the zkml cache).
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
        """Put every artifact into the object store (once per RayProver)."""
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
                shipped.append(ShippedArtifact(name, digest, Path(path).suffix, (ray.put(Path(path).read_bytes()),)))
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
            job.remote(self.spec, artifacts, self.worker_cache, index, name, Path(path).read_bytes(), self.before_prove)
            for index, (path, name) in enumerate(zip(inputs, names, strict=True))
        ]
        raw = self._gather(refs, progress)
        return [self._write_result(index, Path(inputs[index]), name, raw[index]) for index, name in enumerate(names)]

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
                raw[by_ref[done[0]]] = ray.get(done[0])
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

    def _write_result(self, index: int, input_path: Path, name: str, item: dict[str, Any]) -> ProofResult:
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
        )
