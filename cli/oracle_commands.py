"""``zkml oracle``: deploy the verified-prediction oracle, register a model, publish, read, and the demo.

Thin wrappers over :mod:`zkml.oracle`. TARGET addresses the workspace as for every
command; the workspace holds the settings, keys, proof and ``deployments.json``
(the verifier, the oracle and the consumer). Keys come only from the environment
or a keystore, as for ``zkml deploy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from zkml_cli.options import EXISTING_FILE, Target, chain_connection, circuit_target, emit, json_flag, unsafe_srs_flag

if TYPE_CHECKING:
    from zkml.evm.records import Deployment
    from zkml.evm.rpc import Connection, Sender
    from zkml.oracle.oracle_model import OracleModel

_oracle_option = click.option(
    "--oracle", "oracle_address", default=None, help="Oracle address (default: the one in the workspace's deployments.json)."
)
_model_option = click.option(
    "--model-id", default=None, help="bytes32 model id (default: derived from the vk, settings and the recorded feature source)."
)
_source_option = click.option(
    "--source", "source_address", default=None, help="Feature source of an attested model (default: the workspace's recorded one)."
)


def _model(target: Target) -> OracleModel:
    """TARGET's workspace as the oracle sees it (:class:`zkml.oracle.oracle_model.OracleModel`)."""
    from zkml.oracle.oracle_model import OracleModel

    return OracleModel.at(target.workspace, target.config)


def _deployed(what: str, deployment: Deployment) -> str:
    return f"{what} {deployment.address}: " + ("reused" if deployment.reused else f"deployed (gas {deployment.gas_used:,})")


@click.group("oracle")
def oracle_group() -> None:
    """The verified-prediction oracle and its example DeFi consumer (ForecastVault)."""


@oracle_group.command("deploy")
@circuit_target
@click.option(
    "--consumer/--no-consumer",
    default=False,
    show_default=True,
    help="Also deploy a ForecastVault pinned to the model (registered, attested).",
)
@_model_option
@chain_connection(sender=True)
@json_flag
def deploy_cmd(target: Target, consumer: bool, model_id: str | None, conn: Connection, sender: Sender, as_json: bool) -> None:
    """Deploy (or reuse) the oracle, and optionally a consumer pinned to TARGET's attested model."""
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
            _model(target).model_id(conn, model_id),
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
@click.option("--feed", "feed_address", default=None, help="Attest the inputs by this AggregatorV3 feed (deploys the source).")
@_source_option
@click.option("--unattested", is_flag=True, help="Register without a feature source: the submitter chooses the inputs.")
@click.option("--max-epoch-lag", type=int, default=None, help="Attested: refuse epochs this many rounds behind (default: [feed]).")
@click.option("--max-age", type=int, default=None, help="Seconds a prediction stays fresh (default: [consumer] max_age, else 3600).")
@unsafe_srs_flag
@chain_connection(sender=True)
@json_flag
def register_cmd(target: Target, oracle_address: str | None, model_id: str | None, verifier: str | None, feed_address: str | None,
                 source_address: str | None, unattested: bool, max_epoch_lag: int | None, max_age: int | None,
                 allow_unsafe_srs: bool, conn: Connection, sender: Sender, as_json: bool) -> None:  # fmt: skip
    """Register TARGET's model and verifier on the oracle (owner only; idempotent).

    The verifier's code must be the workspace's compiled verifier, and its keys' SRS safe
    for the chain. With --feed (or --source, or a source recorded in the workspace) the
    model is attested: the oracle accepts only proofs on that source's data.
    """
    from zkml.oracle.operations import register

    reg = register(
        _model(target), conn, oracle=oracle_address, model_id=model_id, verifier=verifier, feed=feed_address,
        source=source_address, unattested=unattested, max_epoch_lag=max_epoch_lag, max_age=max_age,
        allow_unsafe_srs=allow_unsafe_srs, sender=sender,
    )  # fmt: skip
    state = "already registered" if reg.reused else f"registered (gas {reg.gas_used:,})"
    mode = f"attested by {reg.source}" if reg.source else "UNATTESTED: submitters choose the inputs"
    line = f"model 0x{reg.model_id.hex()} -> verifier {reg.verifier} ({reg.spec.binding} inputs, {mode}): {state}"
    emit(reg.as_dict(), as_json, [line])


@oracle_group.command("attest")
@circuit_target
@click.option("--feed", "feed_address", required=True, help="The AggregatorV3 feed the model's source reads.")
@click.option("--epoch", type=int, default=None, help="The feed round to prove on (default: the latest).")
@_oracle_option
@_model_option
@click.option("--publish/--no-publish", default=True, show_default=True, help="Publish the proof to the oracle.")
@chain_connection(sender=True)
@json_flag
def attest_cmd(target: Target, feed_address: str, epoch: int | None, oracle_address: str | None, model_id: str | None,
               publish: bool, conn: Connection, sender: Sender, as_json: bool) -> None:  # fmt: skip
    """Prove TARGET's attested model on the feed's window at an epoch, and publish it."""
    from zkml.oracle.operations import attest

    pipeline = target.pipeline()
    done = attest(
        pipeline, _model(target), conn, feed=feed_address, epoch=epoch, oracle=oracle_address, model_id=model_id,
        publish=publish, sender=sender,
    )  # fmt: skip
    lines = [f"epoch {done.epoch}: proved on the feed's window {[round(v, 4) for v in done.input]} -> {done.proof}"]
    if done.publication is not None:
        result = done.publication
        head = "already published" if result.replayed else f"published (gas {result.gas_used:,}, tx {result.tx_hash})"
        lines.append(f"prediction {result.prediction.floats} at epoch {done.epoch}: {head}")
    emit(done.as_dict(), as_json, lines)


@oracle_group.command("publish")
@circuit_target
@click.option("--proof", "proof_path", type=EXISTING_FILE, default=None, help="ezkl proof.json (default: the workspace's).")
@_oracle_option
@_model_option
@click.option("--epoch", "epochs", type=int, multiple=True, help="Data epoch of each sample (attested models).")
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
    epochs: tuple[int, ...],
    read_if_published: bool,
    conn: Connection,
    sender: Sender,
    as_json: bool,
) -> None:
    """Submit a proof; the oracle verifies it and stores the decoded prediction."""
    from zkml.oracle import publish
    from zkml.workspace import Layout

    workspace = target.workspace
    model = _model(target)
    result = publish(
        conn,
        model.oracle_address(conn, oracle_address),
        model.model_id(conn, model_id),
        proof_path or Layout(workspace).proof,
        epochs=list(epochs) or None,
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
@click.option("--epoch", type=int, default=None, help="Read an attested model's prediction at this epoch instead of the latest.")
@click.option("--input-commitment", default=None, help="Read an unattested model's prediction for this input commitment.")
@click.option("--consumer", "show_consumer", is_flag=True, help="Also show the ForecastVault's state.")
@chain_connection
@json_flag
def read_cmd(
    target: Target,
    oracle_address: str | None,
    model_id: str | None,
    epoch: int | None,
    input_commitment: str | None,
    show_consumer: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Read the model's latest fresh prediction (fails if stale, retired or absent)."""
    from zkml.evm.records import DeploymentStore
    from zkml.oracle import CONSUMER_CONTRACT, consumer_state, parse_bytes32, read_prediction

    workspace = target.workspace
    model = _model(target)
    oracle = model.oracle_address(conn, oracle_address)
    mid = model.model_id(conn, model_id)
    commitment = parse_bytes32(input_commitment) if input_commitment else None
    prediction, gas = read_prediction(conn, oracle, mid, epoch=epoch, commitment=commitment)
    payload: dict[str, Any] = {"prediction": prediction.as_dict(), "read_gas_estimate": gas}
    lines = [
        f"prediction 0x{prediction.prediction_id.hex()} of model 0x{mid.hex()}: {list(prediction.floats)} "
        f"(epoch {prediction.epoch}, data time {prediction.data_timestamp}, expires {prediction.expires_at}; read gas estimate {gas:,})"
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
def demo_cmd(target: Target, conn: Connection, sender: Sender, as_json: bool) -> None:
    """The whole DeFi demo on TARGET's verifier-deployed workspace: feed, source, oracle, attested proof, consumer acts.

    `zkml run` does this by itself only for a circuit that declares [feed] and
    [consumer] tables; this command runs it for any circuit whose [feed] names a demo series.
    """
    from zkml.oracle.demo import demo_flow

    result = demo_flow(target.pipeline(), conn, consumer=target.config.consumer, sender=sender)
    state = result["consumer"]
    emit(
        result,
        as_json,
        [
            f"feed {result['feed_address']} epoch {result['epoch']}: attested input {[round(v, 4) for v in result['input']]}",
            f"oracle {result['oracle_address']}: prediction {result['prediction']['floats']}"
            + (" (already published, read back)" if result["replayed"] else f" published, {result['gas']['submit']:,} gas"),
            f"consumer {result['consumer_address']}: target risky allocation {state['target_risky_bps']} bps"
            + (f" ({result['consumer_note']})" if result["consumer_note"] else ""),
        ],
    )
