"""``zkml oracle``: deploy the verified-prediction oracle, register a model, publish, read, let a vault act, and the demo.

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
@circuit_target(batched=True, prebuild=True)
@click.option(
    "--consumer/--no-consumer",
    default=False,
    show_default=True,
    help="Also deploy a ForecastVault pinned to the model (registered, attested).",
)
@click.option(
    "--feed-index",
    "feed_indexes",
    type=click.IntRange(min=0),
    multiple=True,
    help="Multi-feed model: deploy the FeedForecastVault of feed k (repeat it for several feeds); implies --consumer.",
)
@_model_option
@chain_connection(sender=True)
@json_flag
def deploy_cmd(
    target: Target, consumer: bool, feed_indexes: tuple[int, ...], model_id: str | None, conn: Connection, sender: Sender, as_json: bool
) -> None:
    """Deploy (or reuse) the oracle, and optionally the consumers pinned to TARGET's attested model."""
    from zkml.oracle import compile_contracts, deploy_consumer, deploy_feed_consumer, deploy_oracle

    workspace = target.workspace
    contracts = compile_contracts()
    oracle = deploy_oracle(conn, workspace, sender=sender, contracts=contracts)
    payload: dict[str, Any] = {"oracle": {**oracle.as_dict(), "reused": oracle.reused}}
    lines = [_deployed(f"oracle on chain {conn.chain_id}", oracle)]
    if feed_indexes:
        mid = _model(target).model_id(conn, model_id, multi_feed=True)
        vaults = {
            k: deploy_feed_consumer(
                conn, oracle.address, mid, k, workspace, config=target.config.consumer, sender=sender, contracts=contracts
            )
            for k in dict.fromkeys(feed_indexes)
        }
        payload["feed_consumers"] = [{**v.as_dict(), "feed_index": k, "reused": v.reused} for k, v in vaults.items()]
        lines += [_deployed(f"feed {k}'s consumer for model 0x{mid.hex()}", v) for k, v in vaults.items()]
    elif consumer:
        mid = _model(target).model_id(conn, model_id)
        vault = deploy_consumer(conn, oracle.address, mid, workspace, config=target.config.consumer, sender=sender, contracts=contracts)
        payload["consumer"] = {**vault.as_dict(), "reused": vault.reused}
        lines.append(_deployed(f"consumer for model {vault.model_id}", vault))
    from zkml.workspace import Layout

    lines.append(f"recorded in {Layout(workspace).deployments}")
    emit(payload, as_json, lines)


@oracle_group.command("register")
@circuit_target(batched=True, prebuild=True)
@_oracle_option
@_model_option
@click.option("--verifier", default=None, help="Verifier address (default: the workspace's deployments.json).")
@click.option(
    "--feed",
    "feed_addresses",
    multiple=True,
    help="Attest the inputs by this AggregatorV3 feed (deploys the source). Repeat it once per sample of a batched "
    "circuit for a multi-feed model: sample k reads the k-th feed, all at one epoch.",
)
@_source_option
@click.option("--unattested", is_flag=True, help="Register without a feature source: the submitter chooses the inputs.")
@click.option("--max-epoch-lag", type=int, default=None, help="Attested: refuse epochs this many rounds behind (default: [feed]).")
@click.option("--max-age", type=int, default=None, help="Seconds a prediction stays fresh (default: [consumer] max_age, else 3600).")
@unsafe_srs_flag
@chain_connection(sender=True)
@json_flag
def register_cmd(target: Target, oracle_address: str | None, model_id: str | None, verifier: str | None, feed_addresses: tuple[str, ...],
                 source_address: str | None, unattested: bool, max_epoch_lag: int | None, max_age: int | None,
                 allow_unsafe_srs: bool, conn: Connection, sender: Sender, as_json: bool) -> None:  # fmt: skip
    """Register TARGET's model and verifier on the oracle (owner only; idempotent).

    The verifier's code must be the workspace's compiled verifier, and its keys' SRS safe
    for the chain. With --feed (or --source, or a source recorded in the workspace) the
    model is attested: the oracle accepts only proofs on that source's data. With --feed
    repeated (one per sample of the batch) it is a multi-feed model.
    """
    from zkml.oracle.operations import register

    multi = len(feed_addresses) > 1
    reg = register(
        _model(target), conn, oracle=oracle_address, model_id=model_id, verifier=verifier,
        feed=feed_addresses[0] if len(feed_addresses) == 1 else None, feeds=feed_addresses if multi else (),
        source=source_address, unattested=unattested, max_epoch_lag=max_epoch_lag, max_age=max_age,
        allow_unsafe_srs=allow_unsafe_srs, sender=sender,
    )  # fmt: skip
    state = "already registered" if reg.reused else f"registered (gas {reg.gas_used:,})"
    mode = f"attested by {reg.source}" if reg.source else "UNATTESTED: submitters choose the inputs"
    if reg.feeds:
        mode = f"multi-feed: sample k attested by the k-th of {len(reg.feeds)} sources, one epoch per batch"
    line = f"model 0x{reg.model_id.hex()} -> verifier {reg.verifier} ({reg.spec.binding} inputs, {mode}): {state}"
    lines = [line] + [f"  feed {k}: source {s}" for k, s in enumerate(reg.feeds)]
    emit(reg.as_dict(), as_json, lines)


@oracle_group.command("attest")
@circuit_target(batched=True, prebuild=True)
@click.option(
    "--feed",
    "feed_addresses",
    multiple=True,
    required=True,
    help="The AggregatorV3 feed the model's source reads; repeated, the feeds of a multi-feed model in registration order.",
)
@click.option("--epoch", type=int, default=None, help="The feed round to prove on (default: the latest).")
@_oracle_option
@_model_option
@click.option("--publish/--no-publish", default=True, show_default=True, help="Publish the proof to the oracle.")
@chain_connection(sender=True)
@json_flag
def attest_cmd(target: Target, feed_addresses: tuple[str, ...], epoch: int | None, oracle_address: str | None,
               model_id: str | None, publish: bool, conn: Connection, sender: Sender, as_json: bool) -> None:  # fmt: skip
    """Prove TARGET's attested model on the feed's window at an epoch (each feed's, for a multi-feed model), and publish it."""
    from zkml.oracle.operations import attest, attest_feeds

    pipeline = target.pipeline()
    model = _model(target)
    if len(feed_addresses) > 1 or model.spec.batch_size > 1:  # one proof of a batch: K feeds, or K epochs of one feed
        _emit_feeds(attest_feeds(
            pipeline, model, conn, feeds=feed_addresses, epoch=epoch, oracle=oracle_address, model_id=model_id,
            publish=publish, sender=sender,
        ), as_json)  # fmt: skip
        return
    done = attest(
        pipeline, model, conn, feed=feed_addresses[0], epoch=epoch, oracle=oracle_address, model_id=model_id,
        publish=publish, sender=sender,
    )  # fmt: skip
    lines = [f"epoch {done.epoch}: proved on the feed's window {[round(v, 4) for v in done.input]} -> {done.proof}"]
    if done.publication is not None:
        result = done.publication
        head = "already published" if result.replayed else f"published (gas {result.gas_used:,}, tx {result.tx_hash})"
        lines.append(f"prediction {result.prediction.floats} at epoch {done.epoch}: {head}")
    emit(done.as_dict(), as_json, lines)


def _emit_feeds(done: Any, as_json: bool) -> None:
    """Print a multi-feed attestation (:class:`zkml.oracle.operations.FeedAttestation`)."""
    batch = done.batch
    first, last = min(batch.epochs), max(batch.epochs)
    what = (
        f"epoch {last}: proved {len(batch.inputs)} feeds' windows"
        if first == last
        else f"epochs {first}..{last}: proved the feed's windows"
    )
    lines = [f"{what} in one batch -> {done.proof}"]
    result = done.publication
    if done.replayed:
        lines.append("every sample of the batch is already published: read them with `zkml oracle read` (--index k for a multi-feed model)")
    elif result is not None:
        lines.append(f"published {len(result.batch)} predictions (gas {result.gas_used:,}, "
                     f"{(result.gas_used or 0) // max(len(result.batch), 1):,} per prediction, tx {result.tx_hash})")  # fmt: skip
        lines += [f"  sample {k}: feed {p_feed} epoch {p.epoch}: {list(p.floats)}"
                  for k, (p_feed, p) in enumerate(zip(batch.feeds, result.batch, strict=False))]  # fmt: skip
        if result.skipped:
            lines.append(f"  {len(result.skipped)} sample(s) already published: skipped")
    emit(done.as_dict(), as_json, lines)


@oracle_group.command("publish")
@circuit_target(batched=True, prebuild=True)
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
    oracle = model.oracle_address(conn, oracle_address)
    mid = model.model_id(conn, model_id)
    result = publish(
        conn,
        oracle,
        mid,
        proof_path or Layout(workspace).proof,
        epochs=_sample_epochs(conn, oracle, mid, epochs),
        on_replay="read" if read_if_published else "raise",
        sender=sender,
    )
    p = result.prediction
    head = "already published" if result.replayed else f"published (gas {result.gas_used:,}, tx {result.tx_hash})"
    emit(result.as_dict(), as_json, [f"prediction 0x{p.prediction_id.hex()}: {head}", f"outputs {list(p.floats)} (scale {p.scale})"])


def _sample_epochs(conn: Connection, oracle: str, model_id: bytes, epochs: tuple[int, ...]) -> list[int] | None:
    """The epochs to submit: one given for a multi-feed model stands for every sample (all at one epoch)."""
    if len(epochs) != 1:
        return list(epochs) or None
    from zkml.oracle.multi_feed import feeds_of

    feeds = feeds_of(conn, oracle, model_id)
    return [epochs[0]] * len(feeds) if feeds else list(epochs)


@oracle_group.command("read")
@circuit_target(batched=True, prebuild=True)
@_oracle_option
@_model_option
@click.option("--epoch", type=int, default=None, help="Read an attested model's prediction at this epoch instead of the latest.")
@click.option("--input-commitment", default=None, help="Read an unattested model's prediction for this input commitment.")
@click.option("--feed", "feed_address", default=None, help="Multi-feed model: read this feed's prediction (its feed or source).")
@click.option("--index", "feed_index", type=click.IntRange(min=0), default=None, help="Multi-feed model: read feed k's prediction.")
@click.option(
    "--consumer", "show_consumer", is_flag=True, help="Also show the recorded vault's state (with --index, that feed's FeedForecastVault)."
)
@chain_connection
@json_flag
def read_cmd(
    target: Target,
    oracle_address: str | None,
    model_id: str | None,
    epoch: int | None,
    input_commitment: str | None,
    feed_address: str | None,
    feed_index: int | None,
    show_consumer: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Read the model's latest fresh prediction (fails if stale, retired or absent); per feed for a multi-feed model."""
    from zkml.oracle import consumer_state, parse_bytes32, read_prediction

    model = _model(target)
    oracle = model.oracle_address(conn, oracle_address)
    mid = model.model_id(conn, model_id, multi_feed=feed_address is not None or feed_index is not None)
    commitment = parse_bytes32(input_commitment) if input_commitment else None
    if feed_address is not None or feed_index is not None:
        from zkml.oracle.multi_feed import read_feed_prediction

        if feed_address is not None and feed_index is not None:
            raise click.UsageError("give --feed or --index, not both")
        prediction, gas = read_feed_prediction(conn, oracle, mid, index=feed_index, feed=feed_address)
    else:
        from zkml.oracle.multi_feed import feeds_of

        if feeds_of(conn, oracle, mid):
            raise click.UsageError(f"model 0x{mid.hex()} is multi-feed: read one feed's prediction with --index k or --feed ADDR")
        prediction, gas = read_prediction(conn, oracle, mid, epoch=epoch, commitment=commitment)
    payload: dict[str, Any] = {"prediction": prediction.as_dict(), "read_gas_estimate": gas}
    lines = [
        f"prediction 0x{prediction.prediction_id.hex()} of model 0x{mid.hex()}: {list(prediction.floats)} "
        f"(epoch {prediction.epoch}, data time {prediction.data_timestamp}, expires {prediction.expires_at}; read gas estimate {gas:,})"
    ]
    vault = model.consumer_address(conn, oracle, mid, index=feed_index) if show_consumer else None
    if vault is not None:
        state = consumer_state(conn, vault)
        payload["consumer"] = state.as_dict()
        lines.append(
            f"consumer {state.address}: target risky {state.target_risky_bps} bps (forecast {state.last_forecast_wad / 1e18:+.6f})"
        )
    emit(payload, as_json, lines)


@oracle_group.command("act")
@circuit_target(batched=True, prebuild=True)
@_oracle_option
@_model_option
@click.option("--index", "feed_index", type=click.IntRange(min=0), default=None, help="Multi-feed model: feed k's FeedForecastVault acts.")
@click.option("--consumer", "consumer_address", default=None, help="The vault (default: the one recorded in the workspace).")
@chain_connection(sender=True)
@json_flag
def act_cmd(target: Target, oracle_address: str | None, model_id: str | None, feed_index: int | None, consumer_address: str | None,
            conn: Connection, sender: Sender, as_json: bool) -> None:  # fmt: skip
    """Let TARGET's vault rebalance on the prediction for its feed's latest epoch (anyone may send this)."""
    from zkml.oracle.operations import act

    state, gas = act(
        _model(target), conn, oracle=oracle_address, model_id=model_id, index=feed_index, consumer=consumer_address, sender=sender
    )
    emit(
        {"consumer": state.as_dict(), "gas_used": gas},
        as_json,
        [f"consumer {state.address} acted on epoch {state.last_epoch} (gas {gas:,}): target risky {state.target_risky_bps} bps "
         f"(forecast {state.last_forecast_wad / 1e18:+.6f})"],
    )  # fmt: skip


@oracle_group.command("demo")
@circuit_target(batched=True, prebuild=True)
@chain_connection(sender=True)
@json_flag
def demo_cmd(target: Target, conn: Connection, sender: Sender, as_json: bool) -> None:
    """The whole DeFi demo on TARGET's verifier-deployed workspace: feed, source, oracle, attested proof, consumer acts.

    `zkml run` does this by itself only for a circuit that declares [feed] and
    [consumer] tables; this command runs it for any circuit whose [feed] names a demo series.
    """
    from zkml.oracle.demo import demo_flow

    result = demo_flow(target.pipeline(), conn, consumer=target.config.consumer, sender=sender)
    state, gas, b = result["consumer"], result["gas"], target.batch_size
    epochs = f"epoch {result['epoch']}" if b == 1 else f"epochs {result['epoch'] - b + 1}..{result['epoch']}"
    per = f" ({gas['submit_per_prediction']:,} per prediction)" if b > 1 and gas.get("submit_per_prediction") else ""
    emit(
        result,
        as_json,
        [
            f"feed {result['feed_address']} {epochs}: attested input {[round(v, 4) for v in result['input']]}",
            f"oracle {result['oracle_address']}: prediction {result['prediction']['floats']} at epoch {result['epoch']}"
            + (" (already published, read back)" if result["replayed"] else f" published, {gas['submit']:,} gas{per}"),
            f"consumer {result['consumer_address']}: target risky allocation {state['target_risky_bps']} bps"
            + (f" ({result['consumer_note']})" if result["consumer_note"] else ""),
        ],
    )
