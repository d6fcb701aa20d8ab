"""Check a proof against a deployed verifier and decode its public instances.

Calldata is encoded here from ``proof.json`` (``hex_proof`` + ``instances``)
with eth-abi: it is byte-identical to ``ezkl.encode_evm_calldata`` (which adds
32 trailing zero bytes the ABI ignores), needs no file round trip, and lets a
caller substitute instances.

A verifier *reverts* on an invalid proof, and the reusable one can also return
``false``: both are a rejection, a result rather than an error. So is a proof
of another circuit (wrong instance count, wrong VKA).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import Settings
from zkml.errors import ChainError, ContractRevertError, ProofError
from zkml.evm.felts import felt_to_int
from zkml.evm.rpc import GAS_MARGIN, Connection, Sender, call, code_at, estimate_gas, resolve_sender, send_transaction
from zkml.evm.verifier import Vka

log = logging.getLogger(__name__)

PLAIN_SIGNATURE = "verifyProof(bytes,uint256[])"
REUSABLE_SIGNATURE = "verifyProof(bytes,uint256[],bytes32[])"


@dataclass(frozen=True)
class ProofData:
    """The parts of ``proof.json`` a verifier consumes."""

    proof: bytes
    instances: tuple[int, ...]


@dataclass(frozen=True)
class DecodedInstances:
    """Public instances as floats, split into model inputs and outputs."""

    inputs: tuple[tuple[float, ...], ...]
    outputs: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class OnchainResult:
    """The verdict of a deployed verifier on one proof.

    Attributes:
        accepted: the verifier returned true without reverting.
        reason: why it was rejected (revert reason, ``returned false``), empty when accepted.
        gas_estimate: ``eth_estimateGas`` of the call (accepted proofs only).
        gas_used: gas of the mined transaction when one was sent.
        tx_hash: the transaction when one was sent.
        calldata_bytes: size of the calldata.
        instances: the public instances sent.
    """

    accepted: bool
    reason: str
    gas_estimate: int | None
    calldata_bytes: int
    instances: tuple[int, ...]
    gas_used: int | None = None
    tx_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form for ``--json`` output."""
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "gas_estimate": self.gas_estimate,
            "gas_used": self.gas_used,
            "tx_hash": self.tx_hash,
            "calldata_bytes": self.calldata_bytes,
            "instances": [hex(i) for i in self.instances],
        }


def read_proof(proof_path: Path) -> ProofData:
    """Read the proof bytes and flattened public instances from an ezkl ``proof.json``.

    Raises:
        ProofError: the file is missing or not an ezkl proof.
    """
    path = Path(proof_path)
    try:
        data = json.loads(path.read_text())
        proof = bytes.fromhex(str(data["hex_proof"]).removeprefix("0x"))
        # proof.json stores each field element as 32 little-endian bytes in hex.
        instances = tuple(int.from_bytes(bytes.fromhex(h), "little") for column in data["instances"] for h in column)
    except FileNotFoundError as exc:
        raise ProofError(f"proof {path} does not exist") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProofError(f"{path} is not an ezkl proof ({type(exc).__name__}: {exc})") from exc
    return ProofData(proof=proof, instances=instances)


def encode_calldata(proof: ProofData, *, vka: Vka | None = None, instances: Sequence[int] | None = None) -> bytes:
    """ABI-encode a ``verifyProof`` call (plain, or reusable when ``vka`` is given).

    Args:
        proof: proof bytes and instances.
        vka: the model's VKA for the reusable verifier.
        instances: send these instances instead of the proof's own.
    """
    from eth_abi import encode
    from eth_utils import keccak

    values = list(proof.instances if instances is None else instances)
    if any(not 0 <= v < 2**256 for v in values):
        raise ProofError("public instances must be unsigned 256-bit integers (field elements)")
    if vka is None:
        return keccak(text=PLAIN_SIGNATURE)[:4] + encode(["bytes", "uint256[]"], [proof.proof, values])
    return keccak(text=REUSABLE_SIGNATURE)[:4] + encode(["bytes", "uint256[]", "bytes32[]"], [proof.proof, values, list(vka.words)])


def _rejection(exc: ContractRevertError) -> str:
    if "VKA not registered" in str(exc):
        return "VKA not registered on this verifier"
    return "verifier reverted (invalid proof or instances)"


def verify_onchain(
    conn: Connection,
    address: str,
    proof_path: Path,
    *,
    vka: Vka | None = None,
    instances: Sequence[int] | None = None,
    send: bool = False,
    sender: Sender | None = None,
) -> OnchainResult:
    """Ask a deployed verifier whether it accepts a proof.

    Runs ``eth_call`` (and ``eth_estimateGas`` when accepted); with ``send`` an
    accepted proof is also sent as a transaction, to measure real gas.

    Args:
        conn: the chain.
        address: the verifier contract.
        proof_path: an ezkl ``proof.json``.
        vka: the model's VKA when ``address`` is a reusable verifier.
        instances: override the proof's public instances (to test tampering).
        send: also send an accepted proof as a transaction.
        sender: the account for ``send``; resolved from the environment when None.

    Returns:
        The verdict; a rejection is a result, not an exception.

    Raises:
        ProofError: the proof file is unreadable.
        ChainError: the RPC failed, or no contract is at ``address``.
    """
    proof = read_proof(proof_path)
    calldata = encode_calldata(proof, vka=vka, instances=instances)
    to = conn.w3.to_checksum_address(address)
    if not code_at(conn, to):
        raise ChainError(f"no contract at {address} on chain {conn.chain_id}", hint="deploy the verifier first (`zkml deploy`)")
    base: dict[str, Any] = {"calldata_bytes": len(calldata), "instances": tuple(proof.instances if instances is None else instances)}
    try:
        raw = call(conn, to, calldata, "calling the verifier")
    except ContractRevertError as exc:
        return OnchainResult(accepted=False, reason=_rejection(exc), gas_estimate=None, **base)
    # Both verifiers put the success flag in the first return word. (The reusable one
    # also returns rescaled instances, in a hand-assembled layout that is not valid ABI.)
    if len(raw) < 32 or int.from_bytes(raw[:32], "big") != 1:
        return OnchainResult(accepted=False, reason="verifier returned false", gas_estimate=None, **base)
    gas = estimate_gas(conn, to, calldata, "estimating gas")
    if not send:
        return OnchainResult(accepted=True, reason="", gas_estimate=gas, **base)
    receipt = send_transaction(
        conn, sender or resolve_sender(conn), {"to": to, "data": "0x" + calldata.hex(), "gas": int(gas * GAS_MARGIN)}
    )
    ok = receipt["status"] == 1
    return OnchainResult(
        accepted=ok,
        reason="" if ok else "transaction reverted",
        gas_estimate=gas,
        gas_used=int(receipt["gasUsed"]),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        **base,
    )


def decode_instances(instances: Sequence[int], settings: Settings | Path) -> DecodedInstances:
    """Turn public instances back into the model's fixed-point inputs and outputs as floats.

    The instance vector holds, in order, the hashes of hashed tensors (input, params),
    each public model input, each public model output, then an output hash
    (:func:`zkml.settings.public_segments`), each value
    ``round(x * 2**scale)`` with negatives as ``p - |x|``.

    Args:
        instances: the proof's public instances.
        settings: the circuit's settings, or the path of its ``settings.json``.

    Raises:
        ProofError: the instances do not fit the settings (another circuit's proof),
            or the settings publish commitments rather than values (hashed visibility).
    """
    from zkml.errors import CalibrationError
    from zkml.settings import public_segments, read_settings

    typed = settings if isinstance(settings, Settings) else read_settings(Path(settings))
    try:
        segments = public_segments(typed)
    except CalibrationError as exc:
        raise ProofError(f"cannot decode instances: {exc.message}", hint=exc.hint) from exc
    # The Poseidon hashes of hashed inputs, params or outputs are instances too, around the values.
    expected = sum(segment.size for segment in segments) + typed.poseidon_instances
    if expected != len(instances):
        raise ProofError(
            f"{len(instances)} instances do not match these settings ({expected} expected)", hint="is the proof from another circuit?"
        )
    inputs: list[tuple[float, ...]] = []
    outputs: list[tuple[float, ...]] = []
    for segment in segments:
        values = tuple(felt_to_int(v) / 2.0**segment.scale for v in instances[segment.offset : segment.offset + segment.size])
        (inputs if segment.kind == "input" else outputs).append(values)
    return DecodedInstances(inputs=tuple(inputs), outputs=tuple(outputs))
