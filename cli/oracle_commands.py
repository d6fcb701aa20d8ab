"""``zkml oracle``: deploy the verified-prediction oracle, register a model, publish, read.

Thin wrappers over :mod:`zkml.oracle`. TARGET is a circuit (as for the stage
commands); its workspace ``BUILD_DIR/<circuit>`` holds the settings, keys, proof,
``deployments.json`` (the verifier, the oracle and the consumer).
Keys come only from the environment, as for ``zkml deploy``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

_PATH = click.Path(path_type=Path)

_target = click.argument("target")
_build_dir = click.option("--build-dir", type=_PATH, default=Path("build"), show_default=True, help="Workspaces go to BUILD_DIR/<circuit>.")
_rpc_option = click.option("--rpc-url", envvar="ZKML_RPC_URL", help="JSON-RPC endpoint (default: the chain from `zkml chain up`).")
_chain_id_option = click.option("--chain-id", type=int, default=None, help="Refuse the endpoint unless it serves this chain id.")
_oracle_option = click.option(
    "--oracle", "oracle_address", default=None, help="Oracle address (default: the one in the workspace's deployments.json)."
)
_model_option = click.option("--model-id", default=None, help="bytes32 model id (default: derived from the vk and settings).")
_keystore_option = click.option(
    "--keystore",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Encrypted keystore (password in ZKML_KEYSTORE_PASSWORD).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _emit(payload: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


def _workspace(target: str, build_dir: Path) -> Path:
    from zkml_cli.options import resolve_target

    return resolve_target(target, build_dir).workspace


def _connect(rpc_url: str | None, chain_id: int | None) -> Any:
    from zkml.evm.anvil import resolve_rpc_url
    from zkml.evm.rpc import connect

    return connect(resolve_rpc_url(rpc_url), expected_chain_id=chain_id)


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


@click.group("oracle")
def oracle_group() -> None:
    """The verified-prediction oracle and its example DeFi consumer (ForecastVault)."""


@oracle_group.command("deploy")
@_target
@_build_dir
@click.option("--consumer/--no-consumer", default=True, show_default=True, help="Also deploy a ForecastVault pinned to the model.")
@_model_option
@_keystore_option
@_rpc_option
@_chain_id_option
@_json_option
def deploy_cmd(
    target: str,
    build_dir: Path,
    consumer: bool,
    model_id: str | None,
    keystore: Path | None,
    rpc_url: str | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Deploy (or reuse) the oracle, and a consumer pinned to TARGET's model."""
    from zkml.evm.rpc import resolve_sender
    from zkml.oracle import compile_contracts, deploy_consumer, deploy_oracle

    workspace = _workspace(target, build_dir)
    conn = _connect(rpc_url, chain_id)
    sender = resolve_sender(conn, keystore=keystore)
    contracts = compile_contracts()
    oracle = deploy_oracle(conn, workspace, sender=sender, contracts=contracts)
    payload: dict[str, Any] = {"oracle": {**oracle.as_dict(), "reused": oracle.reused}}
    lines = [f"oracle {oracle.address} on chain {conn.chain_id}: " + ("reused" if oracle.reused else f"deployed (gas {oracle.gas_used:,})")]
    if consumer:
        vault = deploy_consumer(conn, oracle.address, _model_id(workspace, model_id), workspace, sender=sender, contracts=contracts)
        payload["consumer"] = {**vault.as_dict(), "reused": vault.reused}
        lines.append(
            f"consumer {vault.address} for model {vault.model_id}: " + ("reused" if vault.reused else f"deployed (gas {vault.gas_used:,})")
        )
    lines.append(f"recorded in {workspace / 'deployments.json'}")
    _emit(payload, as_json, lines)


@oracle_group.command("register")
@_target
@_build_dir
@_oracle_option
@_model_option
@click.option("--verifier", default=None, help="Verifier address (default: the workspace's deployments.json).")
@click.option("--max-age", type=int, default=3600, show_default=True, help="Seconds a prediction stays fresh.")
@_keystore_option
@_rpc_option
@_chain_id_option
@_json_option
def register_cmd(
    target: str,
    build_dir: Path,
    oracle_address: str | None,
    model_id: str | None,
    verifier: str | None,
    max_age: int,
    keystore: Path | None,
    rpc_url: str | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Register TARGET's model and verifier on the oracle (owner only; idempotent)."""
    from zkml.evm.rpc import resolve_sender
    from zkml.oracle import register_workspace

    workspace = _workspace(target, build_dir)
    conn = _connect(rpc_url, chain_id)
    oracle = _oracle(conn, workspace, oracle_address)
    reg = register_workspace(
        conn,
        oracle,
        workspace,
        model_id=_model_id(workspace, model_id),
        verifier=verifier,
        max_age=max_age,
        sender=resolve_sender(conn, keystore=keystore),
    )
    state = "already registered" if reg.reused else f"registered (gas {reg.gas_used:,})"
    _emit(
        reg.as_dict(),
        as_json,
        [f"model 0x{reg.model_id.hex()} -> verifier {reg.verifier} ({reg.spec.binding} inputs, scale {reg.spec.scale}): {state}"],
    )


@oracle_group.command("publish")
@_target
@_build_dir
@click.option(
    "--proof",
    "proof_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="ezkl proof.json (default: the workspace's).",
)
@_oracle_option
@_model_option
@click.option(
    "--read-if-published", is_flag=True, help="If this input was already published, show the stored prediction instead of failing."
)
@_keystore_option
@_rpc_option
@_chain_id_option
@_json_option
def publish_cmd(
    target: str,
    build_dir: Path,
    proof_path: Path | None,
    oracle_address: str | None,
    model_id: str | None,
    read_if_published: bool,
    keystore: Path | None,
    rpc_url: str | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Submit a proof; the oracle verifies it and stores the decoded prediction."""
    from zkml.evm.rpc import resolve_sender
    from zkml.oracle import publish

    workspace = _workspace(target, build_dir)
    conn = _connect(rpc_url, chain_id)
    oracle = _oracle(conn, workspace, oracle_address)
    result = publish(
        conn,
        oracle,
        _model_id(workspace, model_id),
        proof_path or workspace / "proof.json",
        on_replay="read" if read_if_published else "raise",
        sender=resolve_sender(conn, keystore=keystore),
    )
    p = result.prediction
    head = "already published" if result.replayed else f"published (gas {result.gas_used:,}, tx {result.tx_hash})"
    _emit(result.as_dict(), as_json, [f"prediction 0x{p.prediction_id.hex()}: {head}", f"outputs {list(p.floats)} (scale {p.scale})"])


@oracle_group.command("read")
@_target
@_build_dir
@_oracle_option
@_model_option
@click.option("--input-commitment", default=None, help="Read the prediction for this input commitment instead of the latest.")
@click.option("--consumer", "show_consumer", is_flag=True, help="Also show the ForecastVault's state.")
@_rpc_option
@_chain_id_option
@_json_option
def read_cmd(
    target: str,
    build_dir: Path,
    oracle_address: str | None,
    model_id: str | None,
    input_commitment: str | None,
    show_consumer: bool,
    rpc_url: str | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    """Read the model's latest fresh prediction (fails if stale, retired or absent)."""
    from zkml.evm.records import DeploymentStore
    from zkml.oracle import CONSUMER_CONTRACT, consumer_state, parse_bytes32, read_prediction

    workspace = _workspace(target, build_dir)
    conn = _connect(rpc_url, chain_id)
    oracle = _oracle(conn, workspace, oracle_address)
    mid = _model_id(workspace, model_id)
    prediction, gas = read_prediction(conn, oracle, mid, commitment=parse_bytes32(input_commitment) if input_commitment else None)
    payload: dict[str, Any] = {"prediction": prediction.as_dict(), "read_gas_estimate": gas}
    lines = [
        f"prediction 0x{prediction.prediction_id.hex()} of model 0x{mid.hex()}: {list(prediction.floats)} "
        f"(stored at {prediction.timestamp}, block {prediction.block_number}; read gas estimate {gas:,})"
    ]
    if show_consumer:
        entry = DeploymentStore.of(workspace).latest(conn.chain_id, CONSUMER_CONTRACT, oracle=oracle, model_id="0x" + mid.hex())
        if entry is not None:
            state = consumer_state(conn, entry.address)
            payload["consumer"] = state.as_dict()
            lines.append(
                f"consumer {state.address}: target risky {state.target_risky_bps} bps (forecast {state.last_forecast_wad / 1e18:+.6f})"
            )
    _emit(payload, as_json, lines)


COMMANDS = (oracle_group,)


def register(group: click.Group) -> None:
    """Add the ``oracle`` group to the main ``zkml`` group."""
    for command in COMMANDS:
        group.add_command(command)
