"""The whole oracle flow on one chain: from a workspace to the DeFi consumer acting on attested data.

The demo deploys a local price feed and fills it with the circuit's example
series, deploys the feature source that turns the feed's rounds into the
model's input, registers the model as attested (after checking its verifier's
code and SRS), proves the model on the feed's latest window, publishes the
proof, and lets the ForecastVault act on it. Nobody chose the input: it is the
feed's data at the epoch the prediction names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zkml.config import ConsumerConfig, FeedConfig
from zkml.errors import OracleError, OracleRevertError
from zkml.evm.records import Deployment
from zkml.evm.rpc import Connection, Sender, resolve_sender
from zkml.oracle.client import Publication, deploy_oracle, publish, read_prediction
from zkml.oracle.compile import compile_contracts
from zkml.oracle.consumer import consumer_act, consumer_state, deploy_consumer
from zkml.oracle.encoding import hex32
from zkml.oracle.registry import Registration, register_workspace, workspace_model

# A re-run on a long-lived chain: the vault may have acted on this epoch already, be cooling down,
# or (someone pushed a round since) wait for the feed's newer latest epoch to be published.
_EXPECTED_ON_RERUN = ("NotNewer", "CooldownActive", "NotLatestEpoch")


def demo_prices(pipeline: Any, feed: FeedConfig) -> list[float]:
    """The example price series the demo pushes: the last ``demo_rounds`` of ``[feed] demo_series``.

    Raises:
        OracleError: the circuit declares no series.
    """
    from zkml.export import load_callable

    if not feed.demo_series:
        raise OracleError(
            "the circuit declares no [feed] demo_series to fill the demo feed with", hint='add demo_series = "model.py:prices"'
        )
    series = [float(p) for p in load_callable(feed.demo_series, pipeline.config.root)()]
    return series[-feed.demo_rounds :]


def fill_demo_feed(
    conn: Connection, record_dir: Path, prices: list[float], feed: FeedConfig, *, sender: Sender, contracts: Any
) -> tuple[Deployment, int]:
    """Deploy a fresh local feed and push ``prices`` into it; returns the feed and the gas of the pushes."""
    from zkml.oracle.feed import deploy_feed, push_prices
    from zkml.oracle.mirror import answer_of

    deployed = deploy_feed(conn, record_dir, decimals=feed.decimals, description="zkml demo feed", sender=sender, contracts=contracts)
    pushed = push_prices(conn, deployed.address, [answer_of(p, feed.decimals) for p in prices], sender=sender, contracts=contracts)
    return deployed, pushed.gas_used


def demo_flow(
    pipeline: Any,
    conn: Connection,
    *,
    consumer: ConsumerConfig | None = None,
    feed: FeedConfig | None = None,
    sender: Sender | None = None,
    verifier: str | None = None,
) -> dict[str, Any]:
    """From a workspace with a deployed verifier to the DeFi consumer acting on an attested prediction.

    Args:
        pipeline: a :class:`zkml.pipeline.Pipeline` whose plain verifier is deployed on ``conn``.
        conn: the chain.
        consumer: the consumer and its policy (``[consumer]`` of zkml.toml); the defaults when None.
        feed: the feed settings (``[feed]``); the pipeline's config when None.
        sender: the account (owner of the oracle, feed and source).
        verifier: the plain verifier address; read from the deployments record when None.

    Returns:
        A JSON-ready dict: addresses, ``model_id``, ``epoch``, ``prediction``, ``gas`` per step,
        ``consumer`` (the vault's state) and ``consumer_note`` when the vault did not act.

    Raises:
        OracleError: no [feed] demo series, a window outside the model's bounds, or a refused step.
        ChainError: the RPC, account or a transaction failed.
    """
    from zkml.oracle.attest import prove_attested
    from zkml.oracle.feed import attested_input, deploy_source, latest_epoch
    from zkml.oracle.mirror import ReturnsSpec

    config = consumer or pipeline.config.consumer or ConsumerConfig()
    feed_config = feed or pipeline.config.feed or FeedConfig()
    sender = sender or resolve_sender(conn)
    contracts = compile_contracts()
    model = workspace_model(pipeline)
    oracle = deploy_oracle(conn, model.root, sender=sender, contracts=contracts)
    price_feed, push_gas = fill_demo_feed(
        conn, model.root, demo_prices(pipeline, feed_config), feed_config, sender=sender, contracts=contracts
    )
    spec = ReturnsSpec(window=model.spec.sample_width, scale=model.spec.input_scale, multiplier=feed_config.multiplier)
    source = deploy_source(conn, model.root, price_feed.address, spec, sender=sender, contracts=contracts)
    registration = register_workspace(
        conn, oracle.address, pipeline, verifier=verifier, feature_source=source.address,
        max_epoch_lag=feed_config.max_epoch_lag, max_age=config.max_age, sender=sender, contracts=contracts,
    )  # fmt: skip
    vault = deploy_consumer(conn, oracle.address, registration.model_id, model.root, config=config, sender=sender, contracts=contracts)
    epoch = latest_epoch(conn, price_feed.address)
    attested = attested_input(conn, price_feed.address, epoch, spec)
    proof_path = prove_attested(pipeline, attested, model.spec, registration.bounds)
    publication = publish(
        conn, oracle.address, registration.model_id, proof_path, epochs=[epoch], on_replay="read", sender=sender, contracts=contracts
    )
    gas = _sent_gas(oracle, vault, registration, publication) | {"deploy_feed": price_feed.gas_used, "push_rounds": push_gas}
    gas["deploy_source"] = None if source.reused else source.gas_used
    note = ""
    try:
        _, gas["read"] = read_prediction(conn, oracle.address, registration.model_id, epoch=epoch, contracts=contracts)
        state, gas["act"] = consumer_act(conn, vault.address, sender=sender, contracts=contracts)
    except OracleRevertError as exc:
        if exc.error not in _EXPECTED_ON_RERUN:
            raise
        note = str(exc)
        state = consumer_state(conn, vault.address, contracts=contracts)
    return {
        "oracle_address": oracle.address,
        "feed_address": price_feed.address,
        "source_address": source.address,
        "consumer_address": vault.address,
        "model_id": hex32(registration.model_id),
        "epoch": epoch,
        "input": list(attested.values),
        "registration": registration.as_dict(),
        "replayed": publication.replayed,
        "tx_hash": publication.tx_hash,
        "prediction": publication.prediction.as_dict(),
        "gas": gas,
        "consumer": state.as_dict(),
        "consumer_note": note,
    }


def _sent_gas(oracle: Deployment, vault: Deployment, registration: Registration, publication: Publication) -> dict[str, int | None]:
    """Gas of each step that sent a transaction (None for the steps that reused what was there)."""
    return {
        "deploy_oracle": None if oracle.reused else oracle.gas_used,
        "deploy_consumer": None if vault.reused else vault.gas_used,
        "register": None if registration.reused else registration.gas_used,
        "submit": publication.gas_used,
        "read": None,
        "act": None,
    }


__all__ = ["demo_flow", "demo_prices", "fill_demo_feed"]
