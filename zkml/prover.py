"""Warm proving: load a circuit once, prove many inputs; and a local process pool.

A :class:`WarmProver` does once what every ``zkml prove`` does again: resolve
the compiled circuit, keys and SRS (hashing them), check that the keys belong
to the circuit and SRS (ezkl aborts the whole process on a mismatched proving
key, so this check must come first), import ezkl and pick the device. After
that each input costs a witness (milliseconds) and the proof.

What warmth cannot remove: the ezkl 23 Python API takes the proving key and
the SRS as *paths* on every ``prove`` call and reads them from disk each time
(the 138 MB pk of the example MLP included), so that per-call read is part of
every proof. The benchmark harness measures it against bare ``ezkl.prove``.

:class:`ProverPool` spreads proofs over worker *processes*: zkml serialises
ezkl calls within one process (they redirect the process-wide fd 1 under a
lock), so threads would prove one at a time whatever ezkl does with the GIL.
A worker that dies (OOM-killed, segfault) breaks the pool; the pool is then
rebuilt and the unfinished jobs are submitted again, up to ``max_restarts``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zkml.artifacts import CompiledCircuit, Keys, Proof, Srs, TensorSpec, VerifyResult
from zkml.device import DeviceChoice, select_device
from zkml.errors import ConfigError, InputDataError, ProofError

log = logging.getLogger(__name__)

# Called in the proving process before each proof with (job index, attempt); for
# instrumentation and fault injection (tests kill the worker from here).
BeforeProve = Callable[[int, int], None]


@dataclass(frozen=True)
class ProverSpec:
    """Everything a prover needs, as plain picklable data (it crosses process boundaries).

    Attributes:
        circuit: the compiled circuit (with its settings).
        keys: proving/verifying keys bound to ``circuit`` and ``srs``.
        srs: the SRS the keys were made with.
        inputs: the model's input specs; axis 0 is the batch the circuit was compiled for.
        input_ranges: per-input (min, max) feature ranges of the calibration data, when known.
        range_margin: how far outside ``input_ranges`` an input may lie (fraction of the span).
        device: the chosen proving device.
    """

    circuit: CompiledCircuit
    keys: Keys
    srs: Srs
    inputs: tuple[TensorSpec, ...]
    input_ranges: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] | None = None
    range_margin: float = 0.25
    device: DeviceChoice = DeviceChoice("cpu", "cpu", "default")

    @property
    def batch_size(self) -> int:
        """How many samples one proof covers (the circuit's batch axis)."""
        return int(self.inputs[0].shape[0]) if self.inputs and self.inputs[0].shape else 1

    @classmethod
    def from_pipeline(cls, pipeline: Any, *, device: str = "auto") -> ProverSpec:
        """Build (or reuse from the manifest) every stage up to the keys and describe them.

        Raises:
            ZkmlError: any upstream stage's failure.
            DeviceError: ``device="gpu"`` and no GPU prover is available.
        """
        model = pipeline.export()
        circuit = pipeline.compile()
        keys = pipeline.keys()
        srs = pipeline.srs()
        ranges = ((pipeline.ws.stage("calibrate") or {}).get("details") or {}).get("input_ranges")
        choice = select_device(device)
        pipeline.ws.set_info("device", choice.as_dict())
        return cls(
            circuit=circuit,
            keys=keys,
            srs=srs,
            inputs=model.inputs,
            input_ranges=_freeze_ranges(ranges),
            range_margin=pipeline.config.circuit.input_range_margin,
            device=choice,
        )


def _freeze_ranges(ranges: Any) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] | None:
    if not ranges:
        return None
    return tuple((tuple(lo), tuple(hi)) for lo, hi in ranges)


@dataclass(frozen=True)
class ProofResult:
    """One proved input.

    Attributes:
        index: position of the input in the request (results come back in this order).
        input: the input file proved.
        proof: the proof written.
        outputs: the circuit's outputs (decoded floats), all samples of the batch.
        witness_seconds: time to check the input and run the circuit.
        prove_seconds: time ezkl (or the GPU binary) spent proving, pk/SRS reads included.
        device: ``cpu`` or ``gpu``.
        worker: pid of the process that proved it.
        attempt: how many times the job was started (>1 after a worker died); 0 when the backend does not say.
    """

    index: int
    input: Path
    proof: Proof
    outputs: tuple[float, ...]
    witness_seconds: float
    prove_seconds: float
    device: str
    worker: int
    attempt: int = 1

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form for ``--json`` output."""
        return {
            "index": self.index,
            "input": str(self.input),
            "proof": str(self.proof.path),
            "proof_bytes": self.proof.size_bytes,
            "outputs": list(self.outputs),
            "witness_seconds": round(self.witness_seconds, 4),
            "prove_seconds": round(self.prove_seconds, 4),
            "device": self.device,
            "worker": self.worker,
            "attempt": self.attempt,
        }


def collect_inputs(source: Path, inputs: tuple[TensorSpec, ...], staging: Path) -> list[Path]:
    """Turn a directory of JSON files, a ``.jsonl`` file or a multi-sample JSON into one file per proof.

    A directory gives its ``*.json`` files in name order; a ``.jsonl`` gives one
    input per non-empty line (an ``{"input_data": ...}`` object or a bare list);
    a ``.json`` holding several whole batches is split into one file per batch.

    Raises:
        InputDataError: nothing to prove, or a line/file that is not an input.
    """
    from zkml.data import Samples, read_samples, write_samples

    source = Path(source)
    batch = int(inputs[0].shape[0]) if inputs and inputs[0].shape else 1
    if source.is_dir():
        found = sorted(p for p in source.glob("*.json") if p.is_file())
        if not found:
            raise InputDataError(f"{source} holds no *.json input files", hint="give a folder of ezkl input JSON files or a .jsonl")
        return found
    if not source.is_file():
        raise InputDataError(f"{source} does not exist", hint="give a folder of JSON inputs, a .jsonl file or a .json file")
    staging.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".jsonl":
        paths: list[Path] = []
        for number, line in enumerate(source.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise InputDataError(f"{source}:{number} is not JSON: {exc}") from exc
            payload = item if isinstance(item, dict) else {"input_data": item}
            path = staging / f"{source.stem}-{number:05d}.json"
            path.write_text(json.dumps(payload))
            paths.append(path)
        if not paths:
            raise InputDataError(f"{source} has no inputs")
        return paths
    samples = read_samples(source, inputs)
    if samples.count == batch:
        return [source]
    if samples.count % batch:
        raise InputDataError(
            f"{source} holds {samples.count} samples, not a whole number of batches of {batch}",
            hint=f"give a multiple of {batch} samples",
        )
    paths = []
    for start in range(0, samples.count, batch):
        chunk = Samples(tuple(array[start : start + batch] for array in samples.arrays))
        path = staging / f"{source.stem}-{start // batch:05d}.json"
        write_samples(path, chunk)
        paths.append(path)
    return paths


class WarmProver:
    """Proves many inputs with one circuit, loading and checking everything once.

    Example:
        >>> spec = ProverSpec.from_pipeline(pipeline)
        >>> prover = WarmProver(spec, Path("build/mlp/proofs"))
        >>> results = prover.prove_many([Path("a.json"), Path("b.json")])
    """

    def __init__(self, spec: ProverSpec, out_dir: Path, *, before_prove: BeforeProve | None = None) -> None:
        """Check the artifacts once and import ezkl.

        Raises:
            KeysError: the keys belong to another circuit or SRS.
            ConfigError: an artifact file is missing.
        """
        from zkml import _ezkl
        from zkml.keys import check_keys_match

        for label, path in (
            ("compiled circuit", spec.circuit.path),
            ("settings", spec.circuit.settings.path),
            ("proving key", spec.keys.pk_path),
            ("SRS", spec.srs.path),
        ):
            if not Path(path).is_file():
                raise ConfigError(f"{label} {path} does not exist", hint="run zkml setup for this circuit first")
        check_keys_match(spec.keys, spec.circuit, spec.srs)
        _ezkl.module()  # pay the import once, not on the first proof
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.before_prove = before_prove

    def _check_input(self, input_path: Path) -> None:
        from zkml.data import check_in_range, read_samples

        samples = read_samples(input_path, self.spec.inputs)
        if samples.count != self.spec.batch_size:
            raise InputDataError(
                f"{input_path} holds {samples.count} samples; this circuit proves batches of {self.spec.batch_size}",
                hint="split the file (prove-many does), or build a circuit for this batch size",
            )
        if self.spec.input_ranges:
            check_in_range(samples, [(list(lo), list(hi)) for lo, hi in self.spec.input_ranges], self.spec.range_margin)

    def prove(self, input_path: Path, *, index: int = 0, name: str | None = None, attempt: int = 1) -> ProofResult:
        """Check one input, run the circuit and prove it.

        Writes ``<name>.witness.json`` and ``<name>.proof.json`` in the output folder
        (``name`` defaults to the input file's stem).

        Raises:
            InputDataError: the input has the wrong shape or is out of the calibrated range.
            CircuitError: the circuit could not run on it.
            ProofError: proving failed (DeviceError for the GPU path).
        """
        from zkml.circuit import generate_witness
        from zkml.prove import load_proof, prove

        input_path = Path(input_path)
        stem = name or input_path.stem
        witness_path = self.out_dir / f"{stem}.witness.json"
        proof_path = self.out_dir / f"{stem}.proof.json"
        start = time.perf_counter()
        self._check_input(input_path)
        witness = generate_witness(self.spec.circuit, input_path, witness_path)
        witnessed = time.perf_counter()
        if self.before_prove is not None:
            self.before_prove(index, attempt)
        if self.spec.device.used == "gpu":
            from zkml.device import prove_with_cli
            from zkml.workspace import atomic_path

            with atomic_path(proof_path) as tmp:
                prove_with_cli(self.spec.device, witness.path, self.spec.circuit.path, self.spec.keys.pk_path, tmp, self.spec.srs.path)
            proof = load_proof(proof_path, self.spec.circuit.sha256)
        else:
            proof = prove(witness, self.spec.circuit, self.spec.keys, self.spec.srs, proof_path)
        done = time.perf_counter()
        return ProofResult(
            index=index,
            input=input_path,
            proof=proof,
            outputs=witness.outputs,
            witness_seconds=witnessed - start,
            prove_seconds=done - witnessed,
            device=self.spec.device.used,
            worker=os.getpid(),
            attempt=attempt,
        )

    def prove_many(self, inputs: Sequence[Path], *, progress: Callable[[int, int], None] | None = None) -> list[ProofResult]:
        """Prove each input in turn; results in input order.

        Raises:
            ZkmlError: the first input that fails (earlier proofs stay on disk).
        """
        results = []
        names = unique_names(inputs)
        for index, (path, name) in enumerate(zip(inputs, names, strict=True)):
            results.append(self.prove(path, index=index, name=name))
            if progress is not None:
                progress(index + 1, len(inputs))
        return results

    def verify(self, proof: Proof) -> VerifyResult:
        """Verify a proof made by this prover."""
        from zkml.verify import verify

        return verify(proof, self.spec.circuit.settings, self.spec.keys, self.spec.srs)


def unique_names(inputs: Sequence[Path]) -> list[str]:
    """Output stems for the inputs: the file stems, numbered where two collide."""
    stems = [Path(p).stem for p in inputs]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{i:05d}-{stem}" for i, stem in enumerate(stems)]


# -- process pool -------------------------------------------------------------------------

_WORKER: WarmProver | None = None


def _init_worker(spec: ProverSpec, out_dir: Path, before_prove: BeforeProve | None) -> None:
    global _WORKER
    # The parent configured logging; a spawned child starts bare, so keep its warnings visible.
    logging.basicConfig(level=logging.WARNING)
    _WORKER = WarmProver(spec, out_dir, before_prove=before_prove)


def _pool_job(index: int, input_path: Path, name: str, attempt: int) -> ProofResult:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise ProofError("prover worker was not initialised")
    return _WORKER.prove(input_path, index=index, name=name, attempt=attempt)


class ProverPool:
    """Proves inputs on ``workers`` processes, each holding a :class:`WarmProver`.

    Workers are *spawned* (not forked): the parent may already run ezkl's
    thread pool, and forking a multi-threaded process can deadlock the child.
    Each worker pays the ezkl import and the artifact check once. As with any
    spawned multiprocessing, a script using the pool needs an
    ``if __name__ == "__main__":`` guard (the ``zkml`` console script has one).
    """

    def __init__(
        self,
        spec: ProverSpec,
        out_dir: Path,
        *,
        workers: int = 2,
        max_restarts: int = 3,
        before_prove: BeforeProve | None = None,
    ) -> None:
        """Check the spec in the parent (fail fast, before any worker starts).

        Raises:
            ConfigError: ``workers`` < 1.
            KeysError: the keys belong to another circuit or SRS.
        """
        from zkml.keys import check_keys_match

        if workers < 1:
            raise ConfigError(f"workers = {workers}; need at least 1")
        check_keys_match(spec.keys, spec.circuit, spec.srs)
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.workers = workers
        self.max_restarts = max_restarts
        self.before_prove = before_prove
        self.restarts = 0
        self._executor: Any = None

    def _start(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.spec, self.out_dir, self.before_prove),
        )

    def __enter__(self) -> ProverPool:
        self._executor = self._executor or self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def prove_many(self, inputs: Sequence[Path], *, progress: Callable[[int, int], None] | None = None) -> list[ProofResult]:
        """Prove every input; results in input order.

        Raises:
            ProofError: workers died more than ``max_restarts`` times.
            ZkmlError: a job failed on its own (bad input, proving error); not retried.
        """
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        self.out_dir.mkdir(parents=True, exist_ok=True)
        names = unique_names(inputs)
        attempts = [0] * len(inputs)
        results: dict[int, ProofResult] = {}
        pending = list(range(len(inputs)))
        while pending:
            if self._executor is None:
                self._executor = self._start()
            futures = {}
            for index in pending:
                attempts[index] += 1
                futures[self._executor.submit(_pool_job, index, Path(inputs[index]), names[index], attempts[index])] = index
            broken = False
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    results[futures[future]] = result
                    if progress is not None:
                        progress(len(results), len(inputs))
            pending = [i for i in range(len(inputs)) if i not in results]
            if broken:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
                self.restarts += 1
                log.warning("a prover worker died; restarting the pool for %d unfinished jobs (restart %d)", len(pending), self.restarts)
                if self.restarts > self.max_restarts:
                    never_started = not results
                    raise ProofError(
                        f"prover workers died {self.restarts} times; {len(pending)} of {len(inputs)} inputs unproved",
                        hint=(
                            "workers could not start: see the error above (a script that uses ProverPool must guard its "
                            "entry point with `if __name__ == '__main__':`)"
                            if never_started
                            else "check memory (each worker holds the proving key); use fewer --workers"
                        ),
                    )
        return [results[i] for i in range(len(inputs))]


def prove_inputs(
    spec: ProverSpec,
    inputs: Iterable[Path],
    out_dir: Path,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[ProofResult]:
    """Prove many inputs with the right backend: in-process, a process pool, or Ray.

    Args:
        spec: what to prove with (:meth:`ProverSpec.from_pipeline`).
        inputs: input files, one proof each.
        out_dir: where witnesses and proofs go.
        workers: processes (pool) or CPUs of a local Ray (default for Ray: every core).
        ray_address: a Ray cluster to use (``auto`` for the one on this machine); implies Ray.
        use_ray: use Ray; with no address a local Ray is started for the duration.
        progress: called with (done, total).

    Returns:
        One result per input, in input order.
    """
    paths = [Path(p) for p in inputs]
    if use_ray or ray_address:
        from zkml.distributed import RayProver

        # --ray without --workers: a local Ray gets every core rather than one.
        with RayProver(spec, out_dir, address=ray_address, num_workers=workers if workers > 1 else None) as ray_prover:
            return ray_prover.prove_many(paths, progress=progress)
    if workers > 1:
        with ProverPool(spec, out_dir, workers=workers) as pool:
            return pool.prove_many(paths, progress=progress)
    return WarmProver(spec, out_dir).prove_many(paths, progress=progress)


def public_instances(proof: Proof) -> list[list[str]]:
    """The proof's public instances (what two proofs of the same input share; proof bytes differ)."""
    data = json.loads(Path(proof.path).read_text())
    return [list(column) for column in data.get("instances", [])]


def with_paths(spec: ProverSpec, **paths: Path) -> ProverSpec:
    """A copy of ``spec`` whose artifacts live elsewhere (a worker's cache); hashes unchanged.

    Keys: ``compiled``, ``settings``, ``pk``, ``vk``, ``srs``.
    """
    settings = replace(spec.circuit.settings, path=paths.get("settings", spec.circuit.settings.path))
    circuit = replace(spec.circuit, path=paths.get("compiled", spec.circuit.path), settings=settings)
    keys = replace(spec.keys, pk_path=paths.get("pk", spec.keys.pk_path), vk_path=paths.get("vk", spec.keys.vk_path))
    srs = replace(spec.srs, path=paths.get("srs", spec.srs.path))
    return replace(spec, circuit=circuit, keys=keys, srs=srs)
