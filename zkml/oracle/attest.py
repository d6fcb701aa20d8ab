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
from typing import TYPE_CHECKING, Any, Protocol

from zkml.errors import AttestationError
from zkml.oracle.encoding import hex32
from zkml.oracle.layout import ModelSpec

if TYPE_CHECKING:
    from zkml.proving.warm import ProvableCircuit


class AttestedWindow(Protocol):
    """An epoch's input as the feature source attests it (:class:`zkml.oracle.feed.AttestedInput` is one)."""

    @property
    def epoch(self) -> int: ...

    @property
    def instances(self) -> Sequence[int]: ...

    @property
    def values(self) -> Sequence[float]: ...


class TimedWindow(AttestedWindow, Protocol):
    """An attested window that also carries its epoch's timestamp (what :func:`describe` shows)."""

    @property
    def timestamp(self) -> int: ...


ATTESTED_INPUT_NAME = "attested_input.json"
# Where attested proofs go inside a workspace, apart from the run's own input and proof.
ATTESTED_DIR = "attested"
# An epoch is a feed round id: a uint80 (Chainlink's roundId).
MAX_EPOCH = 2**80 - 1


def epoch_problem(epoch: object) -> str | None:
    """Why ``epoch`` is not a round id at all (not an integer, negative, beyond uint80), or None."""
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        return f"epoch {epoch!r} is not an integer: an epoch is a feed round id (0..2^80 - 1)"
    if epoch < 0:
        return f"epoch {epoch} is negative: an epoch is a feed round id (0..2^80 - 1)"
    if epoch > MAX_EPOCH:
        return f"epoch {epoch} is beyond the largest round id 2^80 - 1"
    return None


def check_epoch(epoch: object, *, latest: int | None = None, max_epoch_lag: int | None = None) -> None:
    """Refuse an epoch the oracle would refuse, before anything is proved or sent.

    Args:
        epoch: the epoch a user named.
        latest: the feed's latest epoch, when known (later epochs are refused).
        max_epoch_lag: the model's registered lag, when known (older epochs are refused).

    Raises:
        AttestationError: one line naming the epoch and, where known, the epochs accepted now.
    """
    problem = epoch_problem(epoch)
    if problem is not None:
        raise AttestationError(problem, hint="name a round of the model's feed, or leave --epoch out for the latest")
    if latest is None:
        return
    assert isinstance(epoch, int)  # epoch_problem checked it
    oldest = max(latest - max_epoch_lag, 0) if max_epoch_lag is not None else 0
    accepted = f"the oracle accepts epochs {oldest}..{latest} now"
    hint = "prove on an epoch in that range, or leave --epoch out for the latest"
    if epoch > latest:
        raise AttestationError(f"epoch {epoch} is past the feed's latest epoch {latest}: {accepted}", hint=hint)
    if epoch < oldest:
        why = f"epoch {epoch} is more than {max_epoch_lag} rounds behind the feed's latest epoch {latest}"
        raise AttestationError(f"{why}: {accepted}", hint=hint)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"input_data": [list(values)]})
    return path


def proof_inputs(proof_path: Path, spec: ModelSpec) -> tuple[int, ...]:
    """The input instances of a proof file, as the oracle reads them."""
    from zkml.evm.onchain import read_proof

    return spec.input_instances(read_proof(proof_path).instances)


def prove_attested(pipeline: ProvableCircuit, attested: AttestedWindow, spec: ModelSpec, bounds: Sequence[tuple[int, int]]) -> Path:
    """Prove ``pipeline``'s model on an attested input and check the proof's inputs are the attested ones.

    The input, witness and proof go into the workspace's ``attested/`` folder, named by
    epoch (``epoch-E.proof.json``): the workspace's own ``input.json`` and ``proof.json``
    stay the run's.

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
    from zkml.proving.warm import ProverSpec, WarmProver

    if spec.batch_size != 1:
        raise AttestationError("prove_attested proves one epoch; prove a batch with the batched workspace")
    if bounds:
        check_bounds(attested.instances, bounds, epoch=attested.epoch)
    folder = Path(pipeline.ws.root) / ATTESTED_DIR
    name = f"epoch-{attested.epoch}"
    path = write_attested_input(folder, attested.values, name=f"{name}.input.json")
    proof = WarmProver(ProverSpec.from_pipeline(pipeline), folder).prove(path, name=name).proof
    proved = proof_inputs(proof.path, spec)
    if tuple(int(v) for v in proved) != tuple(int(v) for v in attested.instances):
        raise AttestationError(
            f"the proof's input instances differ from the source's at epoch {attested.epoch}: "
            f"{[hex(v) for v in proved[:3]]}… != {[hex(v) for v in attested.instances[:3]]}…",
            hint="the circuit's input scale changed since the source was deployed; deploy a source with the current scale",
        )
    return Path(proof.path)


def describe(attested: TimedWindow) -> dict[str, Any]:
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


__all__ = [
    "ATTESTED_DIR",
    "ATTESTED_INPUT_NAME",
    "MAX_EPOCH",
    "check_bounds",
    "check_epoch",
    "epoch_problem",
    "describe",
    "proof_inputs",
    "prove_attested",
    "read_input_file",
    "write_attested_input",
]
