"""``zkml oracle``: deploy the verified-prediction oracle, register a model, publish, read, and the demo.

Thin wrappers over :mod:`zkml.oracle`. TARGET addresses the workspace as for every
command; the workspace holds the settings, keys, proof and ``deployments.json``
(the verifier, the oracle and the consumer). Keys come only from the environment
or a keystore, as for ``zkml deploy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from zkml_cli.options import EXISTING_FILE, Target, chain_connection, circuit_target, emit, json_flag

_oracle_option = click.option(
    "--oracle", "oracle_address", default=None, help="Oracle address (default: the one in the workspace's deployments.json)."
)
_model_option = click.option("--model-id", default=None, help="bytes32 model id (default: derived from the vk and settings).")


def _oracle(conn: Any, workspace: Path, explicit: str | None) -> str:
    from zkml.errors import OracleError
    from zkml.evm.records import DeploymentStore
    from zkml.oracle import ORACLE_CONTRACT

    if explicit:
        return explicit
    entry = DeploymentStore.of(workspace).latest(conn.chain_id, ORACLE_CONTRACT)
    if entry is None:
        raise OracleError(f"no oracle recorded in {workspace} for chain {conn.chain_id}", hint="run `zkml oracle deploy` or pass --oracle")
    return entry.address


def _model_id(workspace: Path, explicit: str | None) -> bytes:
    from zkml.oracle import parse_bytes32, workspace_model

    return parse_bytes32(explicit) if explicit else workspace_model(workspace).model_id


def _deployed(what: str, deployment: Any) -> str:
    return f"{what} {deployment.address}: " + ("reused" if deployment.reused else f"deployed (gas {deployment.gas_used:,})")


@click.group("oracle")
def oracle_group() -> None:
    """The verified-prediction oracle and its example DeFi consumer (ForecastVault)."""


@oracle_group.command("deploy")
@circuit_target
@click.option("--consumer/--no-consumer", default=True, show_default=True, help="Also deploy a ForecastVault pinned to the model.")
@_model_option
@chain_connection(sender=True)
@json_flag
def deploy_cmd(target: Target, consumer: bool, model_id: str | None, conn: Any, sender: Any, as_json: bool) -> None:
    """Deploy (or reuse) the oracle, and a consumer pinned to TARGET's model."""
    from zkml.oracle import compile_contracts, deploy_consumer, deploy_oracle

    workspace = target.workspace
    contracts = compile_contracts()
    oracle = deploy_oracle(conn, workspace, sender=sender, contracts=contracts)
    payload: dict[str, Any] = {"oracle": {**oracle.as_dict(), "reused": oracle.reused}}
    lines = [_deployed(f"oracle on chain {conn.chain_id}", oracle)]
    if consumer:
        vault = deploy_consumer(
            conn,
            oracle.address,
            _model_id(workspace, model_id),
            workspace,
            config=target.config.consumer,
            sender=sender,
            contracts=contracts,
        )
        payload["consumer"] = {**vault.as_dict(), "reused": vault.reused}
        lines.append(_deployed(f"consumer for model {vault.model_id}", vault))
    from zkml.workspace import Layout

    lines.append(f"recorded in {Layout(workspace).deployments}")
    emit(payload, as_json, lines)


@oracle_group.command("register")
@circuit_target
@_oracle_option
@_model_option
@click.option("--verifier", default=None, help="Verifier address (default: the workspace's deployments.json).")
@click.option("--max-age", type=int, default=None, help="Seconds a prediction stays fresh (default: [consumer] max_age, else 3600).")
@chain_connection(sender=True)
@json_flag
def register_cmd(
    target: Target,
    oracle_address: str | None,
    model_id: str | None,
    verifier: str | None,
    max_age: int | None,
    conn: Any,
    sender: Any,
    as_json: bool,
) -> None:
    """Register TARGET's model and verifier on the oracle (owner only; idempotent)."""
    from zkml.config import ConsumerConfig
    from zkml.oracle import register_workspace

    workspace = target.workspace
    age = max_age if max_age is not None else (target.config.consumer or ConsumerConfig()).max_age
    reg = register_workspace(
        conn,
        _oracle(conn, workspace, oracle_address),
        workspace,
        model_id=_model_id(workspace, model_id),
        verifier=verifier,
        max_age=age,
        sender=sender,
    )
    state = "already registered" if reg.reused else f"registered (gas {reg.gas_used:,})"
    line = f"model 0x{reg.model_id.hex()} -> verifier {reg.verifier} ({reg.spec.binding} inputs, scale {reg.spec.scale}): {state}"
    emit(reg.as_dict(), as_json, [line])


@oracle_group.command("publish")
@circuit_target
@click.option("--proof", "proof_path", type=EXISTING_FILE, default=None, help="ezkl proof.json (default: the workspace's).")
@_oracle_option
@_model_option
@click.option(
    "--read-if-published", is_flag=True, help="If this input was already published, show the stored prediction instead of failing."
)
@chain_connection(sender=True)
@json_flag
def publish_cmd(
    target: Target,
    proof_path: Path | None,
    oracle_address: str | None,
    model_id: str | None,
    read_if_published: bool,
    conn: Any,
    sender: Any,
    as_json: bool,
) -> None:
    """Submit a proof; the oracle verifies it and stores the decoded prediction."""
    from zkml.oracle import publish
    from zkml.workspace import Layout

    workspace = target.workspace
    result = publish(
        conn,
        _oracle(conn, workspace, oracle_address),
        _model_id(workspace, model_id),
        proof_path or Layout(workspace).proof,
        on_replay="read" if read_if_published else "raise",
        sender=sender,
    )
    p = result.prediction
    head = "already published" if result.replayed else f"published (gas {result.gas_used:,}, tx {result.tx_hash})"
    emit(result.as_dict(), as_json, [f"prediction 0x{p.prediction_id.hex()}: {head}", f"outputs {list(p.floats)} (scale {p.scale})"])


@oracle_group.command("read")
@circuit_target
@_oracle_option
@_model_option
@click.option("--input-commitment", default=None, help="Read the prediction for this input commitment instead of the latest.")
@click.option("--consumer", "show_consumer", is_flag=True, help="Also show the ForecastVault's state.")
@chain_connection
@json_flag
def read_cmd(
    target: Target,
    oracle_address: str | None,
    model_id: str | None,
    input_commitment: str | None,
    show_consumer: bool,
    conn: Any,
    as_json: bool,
) -> None:
    """Read the model's latest fresh prediction (fails if stale, retired or absent)."""
    from zkml.evm.records import DeploymentStore
    from zkml.oracle import CONSUMER_CONTRACT, consumer_state, parse_bytes32, read_prediction

    workspace = target.workspace
    oracle = _oracle(conn, workspace, oracle_address)
    mid = _model_id(workspace, model_id)
    prediction, gas = read_prediction(conn, oracle, mid, commitment=parse_bytes32(input_commitment) if input_commitment else None)
    payload: dict[str, Any] = {"prediction": prediction.as_dict(), "read_gas_estimate": gas}
    lines = [
        f"prediction 0x{prediction.prediction_id.hex()} of model 0x{mid.hex()}: {list(prediction.floats)} "
        f"(stored at {prediction.timestamp}, block {prediction.block_number}; read gas estimate {gas:,})"
    ]
    entry = DeploymentStore.of(workspace).latest(conn.chain_id, CONSUMER_CONTRACT, oracle=oracle, model_id="0x" + mid.hex())
    if show_consumer and entry is not None:
        state = consumer_state(conn, entry.address)
        payload["consumer"] = state.as_dict()
        lines.append(
            f"consumer {state.address}: target risky {state.target_risky_bps} bps (forecast {state.last_forecast_wad / 1e18:+.6f})"
        )
    emit(payload, as_json, lines)


@oracle_group.command("demo")
@circuit_target
@chain_connection(sender=True)
@json_flag
def demo_cmd(target: Target, conn: Any, sender: Any, as_json: bool) -> None:
    """The whole DeFi demo on TARGET's proved, verifier-deployed workspace: oracle, registration, publish, consumer acts.

    `zkml run` does this by itself only for a circuit that declares a [consumer]
    table; this command runs it for any circuit (with the table's defaults).
    """
    from zkml.oracle.demo import demo_flow

    result = demo_flow(target.pipeline(), conn, consumer=target.config.consumer, sender=sender)
    state = result["consumer"]
    emit(
        result,
        as_json,
        [
            f"oracle {result['oracle_address']}: prediction {result['prediction']['floats']}"
            + (" (already published, read back)" if result["replayed"] else f" published, {result['gas']['submit']:,} gas"),
            f"consumer {result['consumer_address']}: target risky allocation {state['target_risky_bps']} bps"
            + (f" ({result['consumer_note']})" if result["consumer_note"] else ""),
        ],
    )
