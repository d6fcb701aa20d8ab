"""Warm proving: load a circuit once, prove many inputs.

A :class:`WarmProver` does once what every ``zkml prove`` does again: resolve
the compiled circuit, keys and SRS (hashing them), check that the keys belong
to the circuit and SRS (ezkl aborts the whole process on a mismatched proving
key, so this check must come first), import ezkl and pick the device. After
that each input costs a witness (milliseconds) and the proof.

What warmth cannot remove: the ezkl 23 Python API takes the proving key and
the SRS as *paths* on every ``prove`` call and reads them from disk each time
(the 138 MB pk of the example MLP included), so that per-call read is part of
every proof. The benchmark harness measures it against bare ``ezkl.prove``.

:class:`ProverSpec` and :class:`ProofResult` are plain picklable data: the
process pool (:mod:`zkml.proving.pool`) and Ray (:mod:`zkml.proving.ray_cluster`)
ship them between processes and build a :class:`WarmProver` on the other side.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from zkml.artifacts import CompiledCircuit, Keys, Proof, Srs, TensorSpec, VerifyResult
from zkml.errors import ConfigError, InputDataError
from zkml.proving.device import DeviceChoice, select_device

if TYPE_CHECKING:
    from zkml.artifacts import OnnxModel
    from zkml.config import CircuitConfig
    from zkml.data import Samples
    from zkml.workspace import Workspace

# Called in the proving process before each proof with (job index, attempt); for
# instrumentation and fault injection (tests kill the worker from here).
BeforeProve = Callable[[int, int], None]
# Called with (done, total) as proofs finish.
Progress = Callable[[int, int], None]
# Per input tensor: the (min, max) of each feature over the calibration data.
InputRanges = tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]


class ProvableCircuit(Protocol):
    """What proving needs of a circuit (its config, workspace and stages up to the keys): a :class:`zkml.pipeline.Pipeline` is one."""

    @property
    def config(self) -> CircuitConfig: ...

    @property
    def ws(self) -> Workspace: ...

    def export(self) -> OnnxModel: ...

    def compile(self) -> CompiledCircuit: ...

    def keys(self) -> Keys: ...

    def srs(self) -> Srs: ...


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
    input_ranges: InputRanges | None = None
    range_margin: float = 0.25
    device: DeviceChoice = DeviceChoice("cpu", "cpu", "default")

    @property
    def batch_size(self) -> int:
        """How many samples one proof covers (the circuit's batch axis)."""
        return int(self.inputs[0].shape[0]) if self.inputs and self.inputs[0].shape else 1

    @classmethod
    def from_pipeline(cls, pipeline: ProvableCircuit, *, device: str = "auto") -> ProverSpec:
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
            input_ranges=freeze_ranges(ranges),
            range_margin=pipeline.config.circuit.input_range_margin,
            device=choice,
        )


def freeze_ranges(ranges: Sequence[Sequence[Sequence[float]]] | None) -> InputRanges | None:
    """Feature ranges as recorded in JSON (lists) turned into hashable, picklable tuples; None when unknown."""
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
        node: the Ray node that proved it (:mod:`zkml.proving.ray_cluster`); None for local backends.
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
    node: str | None = None

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
            **({"node": self.node} if self.node is not None else {}),
        }


def collect_inputs(source: Path, inputs: tuple[TensorSpec, ...], staging: Path) -> list[Path]:
    """Turn a directory of JSON files, a ``.jsonl`` file or a multi-sample JSON into one file per proof.

    A directory gives its ``*.json`` files in name order; a ``.jsonl`` gives one
    input per non-empty line (an ``{"input_data": ...}`` object or a bare list);
    a ``.json`` holding several whole batches is split into one file per batch.

    Args:
        source: the folder, ``.jsonl`` or ``.json`` to read.
        inputs: the circuit's input specs (axis 0 is its batch size).
        staging: where split-out files are written.

    Raises:
        InputDataError: nothing to prove, or a line/file that is not an input.
    """
    source = Path(source)
    if source.is_dir():
        found = sorted(p for p in source.glob("*.json") if p.is_file())
        if not found:
            raise InputDataError(f"{source} holds no *.json input files", hint="give a folder of ezkl input JSON files or a .jsonl")
        return found
    if not source.is_file():
        raise InputDataError(f"{source} does not exist", hint="give a folder of JSON inputs, a .jsonl file or a .json file")
    staging.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".jsonl":
        return _split_jsonl(source, staging)
    return _split_batches(source, inputs, staging)


def _split_jsonl(source: Path, staging: Path) -> list[Path]:
    """One input file per non-empty line, named after the line number (so errors point at it)."""
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


def _split_batches(source: Path, inputs: tuple[TensorSpec, ...], staging: Path) -> list[Path]:
    """One input file per whole batch of a multi-sample JSON (the file itself when it is one batch)."""
    from zkml.data import Samples, read_input, write_samples

    batch = int(inputs[0].shape[0]) if inputs and inputs[0].shape else 1
    samples = read_input(source, inputs)
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


@dataclass(frozen=True)
class Batches:
    """Single samples gathered from every input and grouped into the circuit's batches.

    Attributes:
        paths: one input file per proof, in order.
        padded: per batch file name (stem), how many of its last samples are copies of its
            first (a final short batch is filled up; its proof's extra outputs are not predictions).
    """

    paths: tuple[Path, ...]
    padded: dict[str, int]


def collect_batches(source: Path, inputs: tuple[TensorSpec, ...], staging: Path) -> Batches:
    """Gather the samples of a folder of JSON files, a ``.jsonl`` or a JSON file, in order, into batches.

    Each file or line may hold one sample or several (rows, or flat); the batch size is the
    circuit's (axis 0 of its inputs). A final short batch is padded with copies of its first sample.

    Raises:
        InputDataError: nothing to prove, or a file or line that is not an input for one sample's shape.
    """
    import numpy as np

    from zkml.data import Samples, read_input, write_samples

    batch = int(inputs[0].shape[0]) if inputs and inputs[0].shape else 1
    one = tuple(replace(spec, shape=(1, *spec.shape[1:])) for spec in inputs)
    parts = [read_input(path, one) for path in collect_inputs(source, one, staging / "samples")]
    arrays = tuple(np.concatenate([part.arrays[i] for part in parts]) for i in range(len(inputs)))
    count = int(arrays[0].shape[0])
    staging.mkdir(parents=True, exist_ok=True)
    paths, padded = [], {}
    for number, start in enumerate(range(0, count, batch)):
        rows = list(range(start, min(start + batch, count)))
        missing = batch - len(rows)
        chunk = Samples(tuple(array[rows + [rows[0]] * missing] for array in arrays))
        path = staging / f"batch-{number:05d}.json"
        write_samples(path, chunk)
        paths.append(path)
        if missing:
            padded[path.stem] = missing
    return Batches(tuple(paths), padded)


def witness_file(folder: Path, name: str) -> Path:
    """Where a prover writes the witness of the input called ``name``."""
    return Path(folder) / f"{name}.witness.json"


def proof_file(folder: Path, name: str) -> Path:
    """Where a prover writes the proof of the input called ``name``."""
    return Path(folder) / f"{name}.proof.json"


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

    def check_input(self, input_path: Path) -> Samples:
        """Refuse an input file prove-many would refuse, with the same message (InputDataError); else its samples."""
        from zkml.data import read_input

        return self.check_samples(read_input(input_path, self.spec.inputs), where=str(input_path))

    def check_samples(self, samples: Samples, *, where: str) -> Samples:
        """Refuse normalised samples this circuit cannot prove (sample count, calibrated range); ``where`` names them."""
        from zkml.data import check_in_range

        if samples.count != self.spec.batch_size:
            raise InputDataError(
                f"{where} holds {samples.count} samples; this circuit proves batches of {self.spec.batch_size}",
                hint=f"give {self.spec.batch_size} samples (rows or one flat list); `zkml prove-many --batch-size "
                f"{self.spec.batch_size}` groups single samples into batches itself",
            )
        if self.spec.input_ranges:
            check_in_range(samples, [(list(lo), list(hi)) for lo, hi in self.spec.input_ranges], self.spec.range_margin)
        return samples

    def prove(self, input_path: Path, *, index: int = 0, name: str | None = None, attempt: int = 1) -> ProofResult:
        """Check one input, run the circuit and prove it.

        Writes ``<name>.witness.json`` and ``<name>.proof.json`` in the output folder
        (``name`` defaults to the input file's stem); nothing is written for a refused input.

        Raises:
            InputDataError: the input is too large, malformed, the wrong shape or out of the calibrated range.
            CircuitError: the circuit could not run on it.
            ProofError: proving failed (DeviceError for the GPU path).
        """
        from zkml.circuit import generate_witness
        from zkml.data import input_payload
        from zkml.prove import prove

        input_path = Path(input_path)
        stem = name or input_path.stem
        start = time.perf_counter()
        samples = self.check_input(input_path)
        # ezkl is given the checked samples in its own format, never the caller's file (a bare
        # list or a nested sample is valid here but not to ezkl): a hidden copy, gone once witnessed.
        staged = self.out_dir / f".{stem}.{os.getpid()}.input.part"
        try:
            staged.write_text(json.dumps(input_payload(samples)))
            witness = generate_witness(self.spec.circuit, staged, witness_file(self.out_dir, stem))
        finally:
            staged.unlink(missing_ok=True)
        witnessed = time.perf_counter()
        if self.before_prove is not None:
            self.before_prove(index, attempt)
        proof_path = proof_file(self.out_dir, stem)
        if self.spec.device.used == "gpu":
            proof = self._prove_on_gpu(witness.path, proof_path)
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

    def _prove_on_gpu(self, witness: Path, proof_path: Path) -> Proof:
        """Prove with the GPU build of the ezkl CLI (its Python bindings may not initialise the device)."""
        from zkml.prove import load_proof
        from zkml.proving.device import prove_with_cli
        from zkml.workspace import atomic_path

        spec = self.spec
        with atomic_path(proof_path) as tmp:
            prove_with_cli(spec.device, witness, spec.circuit.path, spec.keys.pk_path, tmp, spec.srs.path)
        return load_proof(proof_path, spec.circuit.sha256)

    def prove_many(self, inputs: Sequence[Path], *, progress: Progress | None = None) -> list[ProofResult]:
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


def with_paths(spec: ProverSpec, **paths: Path) -> ProverSpec:
    """A copy of ``spec`` whose artifacts live elsewhere (a worker's cache); hashes unchanged.

    Keys: ``compiled``, ``settings``, ``pk``, ``vk``, ``srs``.
    """
    settings = replace(spec.circuit.settings, path=paths.get("settings", spec.circuit.settings.path))
    circuit = replace(spec.circuit, path=paths.get("compiled", spec.circuit.path), settings=settings)
    keys = replace(spec.keys, pk_path=paths.get("pk", spec.keys.pk_path), vk_path=paths.get("vk", spec.keys.vk_path))
    srs = replace(spec.srs, path=paths.get("srs", spec.srs.path))
    return replace(spec, circuit=circuit, keys=keys, srs=srs)
