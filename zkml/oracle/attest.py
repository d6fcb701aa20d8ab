"""Prove a model on attested data: the feed's window at an epoch, exactly as the chain computes it.

The prover's input is built by :func:`zkml.oracle.feed.attested_input` (the feed's
rounds read over RPC, run through the integer mirror of the on-chain source), so
the proof's input instances are the source's instances bit for bit. Before
proving, the input is checked against the model's registered bounds (a window the
oracle would refuse is not worth a proof); after proving, the proof's input
instances are compared with the attested ones, so a mismatch is caught here and
not by a reverted transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zkml.errors import AttestationError
from zkml.oracle.encoding import hex32
from zkml.oracle.layout import ModelSpec

ATTESTED_INPUT_NAME = "attested_input.json"


def check_bounds(instances: Sequence[int], bounds: Sequence[tuple[int, int]], *, epoch: int) -> None:
    """Refuse an attested window outside the model's registered input bounds (what the oracle checks).

    Raises:
        AttestationError: naming the first feature out of range.
    """
    from zkml.evm.felts import felt_to_int

    for feature, (felt, (low, high)) in enumerate(zip(instances, bounds, strict=True)):
        value = felt_to_int(int(felt))
        if not low <= value <= high:
            raise AttestationError(
                f"the feed's input at epoch {epoch}, feature {feature}, is {value} (scaled), outside the model's "
                f"registered bounds [{low}, {high}]: the oracle would refuse it",
                hint="the market moved outside the calibrated range; recalibrate on data that covers it",
            )


def write_attested_input(folder: Path, values: Sequence[float], *, name: str = ATTESTED_INPUT_NAME) -> Path:
    """Write the prover's input JSON (one sample, the exact values q / 2^scale) into ``folder``."""
    from zkml.workspace import write_json_atomic

    path = Path(folder) / name
    write_json_atomic(path, {"input_data": [list(values)]})
    return path


def proof_inputs(proof_path: Path, spec: ModelSpec) -> tuple[int, ...]:
    """The input instances of a proof file, as the oracle reads them."""
    from zkml.evm.onchain import read_proof

    return spec.input_instances(read_proof(proof_path).instances)


def prove_attested(pipeline: Any, attested: Any, spec: ModelSpec, bounds: Sequence[tuple[int, int]]) -> Path:
    """Prove ``pipeline``'s model on an attested input and check the proof's inputs are the attested ones.

    Args:
        pipeline: a :class:`zkml.pipeline.Pipeline` (its keys are made if needed).
        attested: a :class:`zkml.oracle.feed.AttestedInput`.
        spec: the model's instance layout (one sample: attested proofs are unbatched here).
        bounds: the model's registered input bounds.

    Returns:
        The proof file.

    Raises:
        AttestationError: the window is out of bounds, or the proof's input instances differ
            from the attested ones (a quantization mismatch).
    """
    if spec.batch_size != 1:
        raise AttestationError("prove_attested proves one epoch; prove a batch with the batched workspace")
    if bounds:
        check_bounds(attested.instances, bounds, epoch=attested.epoch)
    path = write_attested_input(Path(pipeline.ws.root), attested.values)
    proof = pipeline.prove(path)
    proved = proof_inputs(proof.path, spec)
    if tuple(int(v) for v in proved) != tuple(int(v) for v in attested.instances):
        raise AttestationError(
            f"the proof's input instances differ from the source's at epoch {attested.epoch}: "
            f"{[hex(v) for v in proved[:3]]}… != {[hex(v) for v in attested.instances[:3]]}…",
            hint="the circuit's input scale changed since the source was deployed; deploy a source with the current scale",
        )
    return Path(proof.path)


def describe(attested: Any) -> dict[str, Any]:
    """Plain-JSON form of an attested input."""
    return {
        "epoch": attested.epoch,
        "timestamp": attested.timestamp,
        "instances": [hex32(int(v).to_bytes(32, "big")) for v in attested.instances],
        "values": list(attested.values),
    }


def read_input_file(path: Path) -> list[float]:
    """The flat input values of an input JSON (for checks and reports)."""
    data = json.loads(Path(path).read_text())
    return [float(v) for row in data["input_data"] for v in row]


__all__ = ["ATTESTED_INPUT_NAME", "check_bounds", "describe", "proof_inputs", "prove_attested", "read_input_file", "write_attested_input"]
