"""Prove many inputs with keys loaded once, and say how it went: the composition behind ``zkml prove-many``.

The top of :mod:`zkml.proving`: it builds the prover (the circuit's own keys,
or a batched circuit beside them), collects the inputs, proves them with the
backend :func:`~zkml.proving.backends.prove_inputs` picks, verifies every
proof and returns a :class:`ProveManySummary`. The CLI only parses options,
calls :func:`prove_many` and prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zkml.proving.device import DeviceChoice
from zkml.proving.warm import ProofResult, ProvableCircuit, ProverSpec

if TYPE_CHECKING:
    pass

Backend = Literal["warm", "pool", "ray"]


@dataclass(frozen=True)
class ProveManyEvent:
    """Progress of :func:`prove_many`: ``done`` of ``total`` proofs (a first event with ``done=0`` once the prover is ready).

    Attributes:
        done, total: proofs finished, proofs to make.
        backend: ``warm`` (in-process), ``pool`` (worker processes) or ``ray``.
        device: ``cpu`` or ``gpu``, the device proving.
    """

    done: int
    total: int
    backend: Backend
    device: str


ProveManyProgress = Callable[[ProveManyEvent], None]


@dataclass(frozen=True)
class ProveManySummary:
    """What :func:`prove_many` did.

    Attributes:
        circuit: the circuit's name.
        batch_size: inferences per proof.
        backend: ``warm``, ``pool`` or ``ray``.
        workers: the worker count asked for.
        device: the proving device and why it was chosen.
        out_dir: where the proofs and witnesses are.
        setup_seconds: building (or reusing) the circuit and keys, and collecting the inputs.
        prove_wall_seconds: wall time of the proving alone (verification excluded).
        proofs: one result per input, in input order.
        verified: per proof, whether it verified locally (None: not checked).
        padded: per batch input (its file stem), how many of its last samples are padding
            (copies of its first sample: their outputs are not predictions).
    """

    circuit: str
    batch_size: int
    backend: Backend
    workers: int
    device: DeviceChoice
    out_dir: Path
    setup_seconds: float
    prove_wall_seconds: float
    proofs: tuple[ProofResult, ...]
    verified: tuple[bool | None, ...]
    padded: Mapping[str, int] = field(default_factory=dict)

    @property
    def seconds_per_proof(self) -> float:
        return self.prove_wall_seconds / max(len(self.proofs), 1)

    @property
    def any_rejected(self) -> bool:
        """A proof was checked and did not verify (``zkml prove-many`` exits 1)."""
        return any(verdict is False for verdict in self.verified)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form: ``zkml prove-many --json``."""
        return {
            "circuit": self.circuit,
            "batch_size": self.batch_size,
            "inputs": len(self.proofs),
            "backend": self.backend,
            "workers": self.workers,
            "device": self.device.as_dict(),
            "setup_seconds": round(self.setup_seconds, 3),
            "prove_wall_seconds": round(self.prove_wall_seconds, 3),
            "seconds_per_proof": round(self.seconds_per_proof, 3),
            "proofs": [
                {**result.as_dict(), "verified": verdict, "padded_samples": self.padded.get(Path(result.input).stem, 0)}
                for result, verdict in zip(self.proofs, self.verified, strict=True)
            ],
        }


def prover_spec(circuit: ProvableCircuit, batch_size: int, device: str) -> tuple[ProverSpec, Path]:
    """The prover spec (the circuit's own keys, or a batched circuit beside them) and the folder it lives in."""
    if batch_size > 1:
        from zkml.proving.batch import build_batched

        folder = circuit.ws.batch_dir(batch_size)
        return build_batched(circuit.config, batch_size, folder, device=device).spec, folder
    return ProverSpec.from_pipeline(circuit, device=device), circuit.ws.root


def prove_many(
    circuit: ProvableCircuit,
    inputs: Path,
    *,
    out_dir: Path | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    device: str = "auto",
    batch_size: int = 1,
    verify: bool = True,
    progress: ProveManyProgress | None = None,
) -> ProveManySummary:
    """Prove every input in ``inputs`` with keys loaded once, then verify each proof.

    Args:
        circuit: the circuit (a :class:`zkml.pipeline.Pipeline`); its stages up to the keys are built or reused.
        inputs: a folder of JSON files, a ``.jsonl``, or a multi-sample ``.json``. With ``batch_size`` > 1
            their samples are grouped into batches in order, a final short batch padded (``padded``).
        out_dir: where proofs and witnesses go (default: ``proofs`` in the prover's folder).
        workers: prover processes (or CPUs of a local Ray).
        ray_address: a Ray cluster to join (implies Ray); ``use_ray`` without it starts a local Ray.
        use_ray: prove on Ray.
        device: ``auto``, ``cpu`` or ``gpu``.
        batch_size: inferences per proof (builds a batched circuit in ``<workspace>/batch-<B>``).
        verify: verify every proof locally (an invalid proof is a result, not an error).
        progress: called once the prover is ready, then as proofs finish.

    Raises:
        InputDataError: an input is malformed or outside the calibrated range.
        DeviceError: ``device="gpu"`` and no GPU prover is available.
        RayUnavailableError: Ray was asked for and cannot be used.
        ZkmlError: any stage's failure while building the prover.
    """
    from zkml.proving.backends import prove_inputs
    from zkml.proving.warm import WarmProver, collect_batches, collect_inputs

    started = time.perf_counter()
    spec, root = prover_spec(circuit, batch_size, device)
    out = out_dir or root / "proofs"
    if spec.batch_size > 1:
        batches = collect_batches(inputs, spec.inputs, out / "inputs")
        paths, padded = list(batches.paths), batches.padded
    else:
        paths, padded = collect_inputs(inputs, spec.inputs, out / "inputs"), {}
    ready = time.perf_counter()
    backend: Backend = "ray" if use_ray or ray_address else "pool" if workers > 1 else "warm"

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(ProveManyEvent(done, total, backend, spec.device.used))

    report(0, len(paths))
    results = prove_inputs(spec, paths, out, workers=workers, ray_address=ray_address, use_ray=use_ray, progress=report)
    proved = time.perf_counter()
    checker = WarmProver(spec, out) if verify else None
    verdicts = [checker.verify(r.proof).verified if checker else None for r in results]
    return ProveManySummary(
        circuit=circuit.config.name,
        batch_size=spec.batch_size,
        backend=backend,
        workers=workers,
        device=spec.device,
        out_dir=out,
        setup_seconds=ready - started,
        prove_wall_seconds=proved - ready,
        proofs=tuple(results),
        verified=tuple(verdicts),
        padded=padded,
    )


__all__ = ["ProvableCircuit", "ProveManyEvent", "ProveManyProgress", "ProveManySummary", "prove_many", "prover_spec"]
