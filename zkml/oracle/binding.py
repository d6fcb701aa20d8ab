"""What a registration binds, checked off chain before anything is sent.

The oracle records a verifier's code hash and re-checks it on every submit, but
it cannot know which code is the RIGHT one: the tooling does. Before it
registers a workspace's model it checks that:

- the code at the verifier address is exactly the workspace's compiled verifier
  (its runtime sha256), made for the workspace's verifying key, so a contract that
  always returns true (or another model's verifier) is refused;
- the keys come from an SRS that is safe for the chain: a development SRS, or one
  imported without a pinned sha256, is refused on a non-development chain;
- the calibrated input range becomes per-feature bounds the oracle enforces;
- hashed params: the workspace's own param hashes become the commitment the oracle
  pins, so a proof made with other weights is refused on chain.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import sha256_bytes, sha256_file
from zkml.errors import EvmError, OracleError, VerifierMismatchError
from zkml.evm.rpc import Connection
from zkml.workspace import Layout

# How far outside the calibrated range an input may lie, as a fraction of the span,
# when the workspace does not record it (zkml.config.CircuitSettings.input_range_margin).
DEFAULT_MARGIN = 0.25
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class VerifierBinding:
    """A verifier address checked against a workspace's compiled verifier.

    Attributes:
        address: the verifier.
        codehash: keccak256 of its runtime code (what the oracle pins).
        runtime_sha256: sha256 of its runtime code (what the workspace records).
    """

    address: str
    codehash: bytes
    runtime_sha256: str


def onchain_code(conn: Connection, address: str) -> bytes:
    """The runtime code at ``address`` (empty when there is none)."""
    from zkml.evm.rpc import code_at

    return bytes(code_at(conn, address) or b"")


def codehash_of(code: bytes) -> bytes:
    """keccak256 of runtime code, as Solidity's ``address.codehash`` gives it."""
    from eth_utils import keccak

    return bytes(keccak(code))


def check_verifier(conn: Connection, address: str, root: Path, *, reusable: bool = False) -> VerifierBinding:
    """Check that the contract at ``address`` is the workspace's compiled plain (or reusable) verifier.

    A reusable verifier does not depend on the verifying key (the model's VKA, pinned by
    digest at registration, carries it), so only a plain one is checked against the vk.

    Raises:
        VerifierMismatchError: no code there, or code that differs from the compiled verifier,
            or a compiled plain verifier made for another verifying key.
        OracleError: the workspace has no compiled verifier.
    """
    from zkml.evm.verifier import load_verifier

    layout = Layout(root)
    try:
        artifact = load_verifier(layout.evm_dir(reusable=reusable))
    except EvmError as exc:
        raise OracleError(f"cannot check the verifier: {exc.message}", hint="run `zkml verifier` (or `zkml run --chain`) first") from exc
    if not reusable and layout.vk.is_file() and artifact.vk_sha256 != sha256_file(layout.vk):
        raise VerifierMismatchError(
            f"the compiled verifier in {layout.evm_dir()} was made for another verifying key",
            hint="run `zkml verifier` again for the current keys",
        )
    code = onchain_code(conn, address)
    if not code:
        raise VerifierMismatchError(f"no contract at verifier address {address} on chain {conn.chain_id}")
    digest = sha256_bytes(code)
    if digest != artifact.runtime_sha256:
        raise VerifierMismatchError(
            f"the code at {address} ({len(code):,} bytes, sha256 {digest[:12]}…) is not this workspace's compiled "
            f"{'reusable ' if reusable else ''}verifier "
            f"({artifact.runtime_bytes:,} bytes, sha256 {artifact.runtime_sha256[:12]}…)",
            hint="deploy the workspace's own verifier (`zkml deploy`) and register that address",
        )
    return VerifierBinding(address, codehash_of(code), digest)


def srs_record(root: Path) -> dict[str, Any]:
    """The SRS the workspace's keys were made with, as its manifest records it (empty if unknown)."""
    from zkml.workspace import Workspace

    return dict(Workspace(Layout(root).root).info("srs", {}) or {})


def check_workspace_srs(conn: Connection, root: Path, *, allow_unsafe_srs: bool = False) -> None:
    """Refuse a workspace whose keys come from an unsafe SRS on a non-development chain.

    Raises:
        UnsafeSrsError: refused.
    """
    from zkml.evm.deploy import check_srs_guard
    from zkml.srs import record_unsafe_reason

    reason = record_unsafe_reason(srs_record(root))
    check_srs_guard(conn.chain_id, srs_unsafe=reason is not None, allow_unsafe_srs=allow_unsafe_srs, reason=reason)


def quantized_bounds(
    ranges: Sequence[tuple[Sequence[float], Sequence[float]]], margin: float, scale: int, width: int
) -> tuple[tuple[int, int], ...]:
    """Per-feature on-chain bounds of one sample's inputs, as integers scaled by 2^scale.

    Args:
        ranges: per input tensor, the (lows, highs) of each flattened feature in the calibration data.
        margin: how far outside may an input lie, as a fraction of each feature's span.
        scale: the circuit's input scale.
        width: input features per sample (the instance count of one sample's inputs).

    Returns:
        ``width`` pairs (low, high), widened outward to whole quantization steps and clamped
        to int64 (what the oracle stores). When the
        ranges describe a batch (``width * B`` features), each feature's bound covers all of
        its B positions.

    Raises:
        OracleError: the ranges do not describe ``width`` features.
    """
    lows = [float(v) for low, _ in ranges for v in low]
    highs = [float(v) for _, high in ranges for v in high]
    if not lows or len(lows) % width:
        raise OracleError(f"the calibrated ranges cover {len(lows)} features, not a multiple of the model's {width} inputs")
    bounds = []
    for j in range(width):
        low = min(lows[j::width])
        high = max(highs[j::width])
        span = max(high - low, 1e-9)
        scaled = (math.floor((low - margin * span) * 2**scale), math.ceil((high + margin * span) * 2**scale))
        # The oracle stores bounds as int64: wider than any input a circuit quantizes sensibly.
        bounds.append((max(scaled[0], INT64_MIN), min(scaled[1], INT64_MAX)))
    return tuple(bounds)


def params_commitment(hashes: Sequence[int]) -> bytes:
    """keccak256 of the param-hash instances as the oracle computes it (``abi.encodePacked(uint256[])``)."""
    from eth_utils import keccak

    return bytes(keccak(b"".join(int(h).to_bytes(32, "big") for h in hashes)))


def workspace_param_hashes(root: Path, count: int) -> tuple[int, ...]:
    """The Poseidon hashes of a hashed-params workspace's weights, from its own witness.

    The witness is made by the workspace's compiled circuit, so these are the hashes of the
    weights the owner compiled: what the oracle pins, and what a proof of other weights lacks.

    Raises:
        OracleError: no witness, or not ``count`` param hashes in it.
    """
    path = Layout(root).witness
    try:
        # Like proof.json, the witness stores each field element as 32 little-endian bytes in hex.
        raw = json.loads(path.read_text())["processed_params"]["poseidon_hash"]
        hashes = tuple(int.from_bytes(bytes.fromhex(str(h).removeprefix("0x")), "little") for h in raw)
    except FileNotFoundError as exc:
        raise OracleError(f"{path} does not exist: the param hashes come from it", hint="run `zkml prove` (or `zkml run`) first") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OracleError(f"{path} holds no param hashes ({type(exc).__name__}: {exc})", hint="run `zkml prove` again") from exc
    if len(hashes) != count:
        raise OracleError(f"{path} holds {len(hashes)} param hashes, the circuit publishes {count}", hint="run `zkml prove` again")
    return hashes


def workspace_bounds(root: Path, scale: int, width: int) -> tuple[tuple[int, int], ...]:
    """The on-chain input bounds of a workspace: its calibrated ranges, widened by its margin.

    Raises:
        OracleError: the workspace records no calibrated ranges.
    """
    from zkml.workspace import Workspace

    ws = Workspace(Layout(root).root)
    ranges = ((ws.stage("calibrate") or {}).get("details") or {}).get("input_ranges")
    if not ranges:
        raise OracleError(f"{ws.root} records no calibrated input ranges", hint="run `zkml calibrate` (or `zkml run`) first")
    margin = float((ws.info("settings", {}) or {}).get("input_range_margin", DEFAULT_MARGIN))
    return quantized_bounds([(lo, hi) for lo, hi in ranges], margin, scale, width)


__all__ = [
    "DEFAULT_MARGIN",
    "VerifierBinding",
    "check_verifier",
    "check_workspace_srs",
    "codehash_of",
    "onchain_code",
    "params_commitment",
    "quantized_bounds",
    "srs_record",
    "workspace_bounds",
    "workspace_param_hashes",
]
