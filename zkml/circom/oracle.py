"""A circom model (Groth16, PLONK or FFLONK) on zkml's oracle: registered with its adapter as the verifier, published as usual.

The circom circuit's public signals are the halo2 circuit's instances (same inputs, same
outputs, same order and scale), so the oracle's model spec, input bounds, attested
feature source, replay guard and decoding are those of the halo2 workspace the circuit
was generated from. Only the verifier differs: the adapter, whose code hash the oracle
pins. The model id covers the proof system and its verification key, so it never shares an id with the
halo2 verifier of the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zkml.circom.build import CircomCircuit, SnarkKeys
from zkml.circom.evm import Groth16Deployment
from zkml.circom.prove import SnarkProof, prove
from zkml.errors import OracleError
from zkml.evm.deploy import check_srs_guard

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection, Sender
    from zkml.oracle.client import Publication
    from zkml.oracle.registry import Registration


def groth16_model_id(keys: SnarkKeys, workspace: Path, *, source: str | None = None) -> bytes:
    """The default oracle id of the model under ``keys``: its proof system and verification key, the workspace's settings, its source."""
    from zkml.oracle.encoding import default_model_id
    from zkml.oracle.registry import workspace_model

    return default_model_id(f"{keys.system}:{keys.vk_sha256}", workspace_model(workspace).settings_sha256, source=source)


def register_groth16(
    conn: Connection,
    oracle: str,
    workspace: Path,
    keys: SnarkKeys,
    deployment: Groth16Deployment,
    *,
    feature_source: str | None = None,
    max_epoch_lag: int = 0,
    max_age: int | None = None,
    allow_unsafe_srs: bool = False,
    sender: Sender | None = None,
) -> Registration:
    """Register the adapter (of the keys' proof system) as the verifier of the halo2 workspace's model (idempotent).

    Args:
        workspace: the halo2 workspace the circom circuit was generated from (its spec and bounds).
        deployment: the deployed verifier and adapter (:func:`zkml.circom.evm.deploy`).
        feature_source: register an attested model over this source.

    Raises:
        UnsafeSrsError: keys from the development ptau on a non-development chain.
        OracleError: the oracle refused the registration.
    """
    from zkml.oracle.binding import workspace_bounds
    from zkml.oracle.registry import DEFAULT_MAX_AGE, register_model, workspace_model

    ptau = keys.ptau
    check_srs_guard(conn.chain_id, srs_unsafe=ptau.unsafe, allow_unsafe_srs=allow_unsafe_srs, reason=ptau.unsafe_reason)
    model = workspace_model(workspace)
    if model.spec.param_count:
        raise OracleError("hashed params are not taken by the circom backend", hint="use fixed params")
    bounds = workspace_bounds(model.root, model.spec.input_scale, model.spec.sample_width) if model.spec.binding == "public" else ()
    return register_model(
        conn,
        oracle,
        groth16_model_id(keys, workspace, source=feature_source),
        deployment.adapter.address,
        model.spec,
        bounds=bounds,
        source=feature_source,
        max_epoch_lag=max_epoch_lag,
        max_age=DEFAULT_MAX_AGE if max_age is None else max_age,
        sender=sender,
    )


def attest_groth16(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    circuit: CircomCircuit,
    keys: SnarkKeys,
    *,
    feed: str,
    input_scale: int,
    multiplier: int,
    out_dir: Path,
    epoch: int | None = None,
    sender: Sender | None = None,
) -> tuple[SnarkProof, Publication]:
    """Prove the model on the feed's window at ``epoch`` (default: the latest) with the keys' proof system and publish it.

    The inputs are the instances the feature source attests for that epoch, recomputed
    from the feed (:func:`zkml.oracle.feed.attested_input`), so the oracle's check that the
    proof's inputs are the attested ones passes as for a halo2 proof.
    """
    from zkml.oracle.client import publish
    from zkml.oracle.feed import attested_input, latest_epoch
    from zkml.oracle.mirror import ReturnsSpec

    at = latest_epoch(conn, feed) if epoch is None else epoch
    window = attested_input(conn, feed, at, ReturnsSpec(circuit.graph.input_size, input_scale, multiplier))
    proof = prove(circuit, keys, window.instances, out_dir)
    return proof, publish(conn, oracle, model_id, proof.path, epochs=[at], sender=sender)
