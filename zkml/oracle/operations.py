"""What the ``zkml oracle`` commands do, as library calls: register a model, attest an epoch.

Each takes an :class:`zkml.oracle.oracle_model.OracleModel` (the workspace's model with
its feed and consumer policy and its deployment lookups), so the defaults are the
model's and the CLI only parses and prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection, Sender
    from zkml.oracle.client import Publication
    from zkml.oracle.consumer import ConsumerState
    from zkml.oracle.multi_feed import FeedBatch
    from zkml.oracle.oracle_model import OracleModel
    from zkml.oracle.registry import Registration
    from zkml.proving.warm import ProvableCircuit


def source_for(model: OracleModel, conn: Connection, *, feed: str | None, source: str | None, sender: Sender | None = None) -> str | None:
    """The feature source to register with: ``source``, else one deployed (or reused) over ``feed``, else the recorded one."""
    from zkml.oracle.feed import deploy_source

    if source:
        return source
    if feed is None:
        return model.recorded_source(conn)
    return deploy_source(conn, model.root, feed, model.returns_spec(), sender=sender).address


def register(
    model: OracleModel,
    conn: Connection,
    *,
    oracle: str | None = None,
    model_id: str | None = None,
    verifier: str | None = None,
    feed: str | None = None,
    source: str | None = None,
    feeds: Sequence[str] = (),
    unattested: bool = False,
    max_epoch_lag: int | None = None,
    max_age: int | None = None,
    allow_unsafe_srs: bool = False,
    sender: Sender | None = None,
) -> Registration:
    """Register the workspace's model on the oracle (idempotent), attested unless ``unattested``.

    Args:
        oracle: the oracle (default: the recorded one).
        model_id: hex bytes32 (default: the workspace's id with its source).
        verifier: the verifier (default: the workspace's recorded plain verifier).
        feed: deploy (or reuse) the model's feature source over this feed.
        source: an already deployed feature source.
        feeds: a multi-feed model: one AggregatorV3 feed per sample of the batch (a source is deployed,
            or reused, over each); recorded in the workspace so later commands find the model.
        max_epoch_lag, max_age: default: the model's (``[feed]``, ``[consumer]``).

    Raises:
        OracleError, ChainError: see :func:`zkml.oracle.registry.register_workspace`.
    """
    from zkml.oracle.encoding import parse_bytes32
    from zkml.oracle.registry import register_workspace

    if feeds:
        return _register_feeds(model, conn, feeds, oracle=oracle, model_id=model_id, verifier=verifier,
                               max_epoch_lag=max_epoch_lag, max_age=max_age, allow_unsafe_srs=allow_unsafe_srs, sender=sender)  # fmt: skip
    chosen = None if unattested else source_for(model, conn, feed=feed, source=source, sender=sender)
    return register_workspace(
        conn,
        model.oracle_address(conn, oracle),
        model.root,
        model_id=parse_bytes32(model_id) if model_id else model.workspace.model_id_for(chosen),
        verifier=verifier,
        feature_source=chosen,
        max_epoch_lag=model.max_epoch_lag if max_epoch_lag is None else max_epoch_lag,
        max_age=model.max_age if max_age is None else max_age,
        allow_unsafe_srs=allow_unsafe_srs,
        sender=sender,
    )


def _register_feeds(
    model: OracleModel,
    conn: Connection,
    feeds: Sequence[str],
    *,
    oracle: str | None,
    model_id: str | None,
    verifier: str | None,
    max_epoch_lag: int | None,
    max_age: int | None,
    allow_unsafe_srs: bool,
    sender: Sender | None,
) -> Registration:
    """Register the workspace's batch-K model over K feeds (one source deployed or reused per feed)."""
    from zkml.errors import OracleError
    from zkml.oracle.encoding import parse_bytes32
    from zkml.oracle.multi_feed import deploy_sources, record_feeds
    from zkml.oracle.registry import register_workspace

    if len(feeds) != model.spec.batch_size:
        raise OracleError(
            f"{len(feeds)} feeds for {model.root}, which proves batches of {model.spec.batch_size}",
            hint=f"give one --feed per sample ({model.spec.batch_size}), or address the batch-{len(feeds)} build of the circuit",
        )
    sources = deploy_sources(conn, model.root, feeds, model.returns_spec(), sender=sender)
    registration = register_workspace(
        conn,
        model.oracle_address(conn, oracle),
        model.root,
        model_id=parse_bytes32(model_id) if model_id else model.workspace.model_id_for(None, feeds=sources),
        verifier=verifier,
        feeds=sources,
        max_epoch_lag=model.max_epoch_lag if max_epoch_lag is None else max_epoch_lag,
        max_age=model.max_age if max_age is None else max_age,
        allow_unsafe_srs=allow_unsafe_srs,
        sender=sender,
    )
    record_feeds(model.root, conn.chain_id, feeds, sources)
    return registration


@dataclass(frozen=True)
class FeedAttestation:
    """A multi-feed batch proved at one epoch, and its publication.

    Attributes:
        batch: the K feeds' windows at the epoch.
        proof: the proof file (in the workspace's ``attested/``).
        publication: the oracle's answer, None when not published.
        replayed: every feed's sample at this epoch was already published (nothing sent).
    """

    batch: FeedBatch
    proof: Path
    publication: Publication | None = None
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.batch.as_dict(), "proof": str(self.proof), "replayed": self.replayed}
        if self.publication is not None:
            data["publication"] = self.publication.as_dict()
        return data


def attest_feeds(
    circuit: ProvableCircuit,
    model: OracleModel,
    conn: Connection,
    *,
    feeds: Sequence[str],
    epoch: int | None = None,
    oracle: str | None = None,
    model_id: str | None = None,
    publish: bool = True,
    sender: Sender | None = None,
) -> FeedAttestation:
    """Prove the batch-K model on K feeds' windows at one ``epoch`` (default: the newest all feeds have) and publish it.

    With ONE feed (a one-feed batched model): its windows at the K consecutive epochs ending at ``epoch``.

    Raises:
        AttestationError: an epoch the oracle would refuse, or a window outside the registered bounds.
        OracleError, ChainError: a refused or failed chain step.
    """
    from zkml.errors import ReplayError
    from zkml.oracle.attest import ATTESTED_DIR, check_epoch
    from zkml.oracle.client import publish as publish_proof
    from zkml.oracle.multi_feed import common_epoch, epochs_batch, feed_batch, prove_feed_batch
    from zkml.oracle.registry import read_model
    from zkml.proving.warm import ProverSpec

    if epoch is not None:
        check_epoch(epoch)
    one_feed = len(feeds) == 1
    address = model.oracle_address(conn, oracle)
    mid = (
        model.model_id(conn, model_id)
        if model_id or one_feed
        else model.workspace.model_id_for(None, feeds=_sources_of(model, conn, feeds))
    )
    registered = read_model(conn, address, mid)
    _check_feed_count(mid, registered, feeds)
    lag = int(registered["max_epoch_lag"]) if registered else None
    latest = common_epoch(conn, feeds)
    at = epoch if epoch is not None else latest
    check_epoch(at, latest=latest, max_epoch_lag=lag)
    if one_feed:
        first = at - model.spec.batch_size + 1
        check_epoch(first, latest=latest, max_epoch_lag=lag)  # the batch's oldest epoch must be accepted too
        batch = epochs_batch(conn, feeds[0], range(first, at + 1), model.returns_spec())
    else:
        batch = feed_batch(conn, feeds, at, model.returns_spec())
    folder = Path(circuit.ws.root) / ATTESTED_DIR
    proof = prove_feed_batch(ProverSpec.from_pipeline(circuit), folder, batch, model.spec, registered["bounds"] if registered else ())
    if not publish:
        return FeedAttestation(batch, proof)
    try:
        publication = publish_proof(conn, address, mid, proof, epochs=batch.epochs, sender=sender)
    except ReplayError:
        return FeedAttestation(batch, proof, None, replayed=True)
    return FeedAttestation(batch, proof, publication)


def _check_feed_count(model_id: bytes, registered: dict[str, Any] | None, feeds: Sequence[str]) -> None:
    """Refuse, before proving, feeds the registration cannot take: a multi-feed model needs one feed per source."""
    from zkml.errors import AttestationError

    sources = tuple((registered or {}).get("feeds") or ())
    if sources and len(feeds) != len(sources):
        raise AttestationError(
            f"model 0x{model_id.hex()} is registered over {len(sources)} feeds; {len(feeds)} given",
            hint="give --feed once per registered feed, in registration order",
        )


def _sources_of(model: OracleModel, conn: Connection, feeds: Sequence[str]) -> tuple[str, ...]:
    """The sources recorded for these feeds (as registration deployed them), for the default model id."""
    from zkml.errors import OracleError
    from zkml.oracle.multi_feed import recorded_feeds

    recorded = recorded_feeds(model.root, conn.chain_id)
    if recorded is None or [f.lower() for f in recorded[0]] != [f.lower() for f in feeds]:
        raise OracleError(
            f"no multi-feed registration of {model.root} over these {len(feeds)} feeds (in this order) on chain {conn.chain_id}",
            hint="run `zkml oracle register TARGET --feed ADDR ...` with the same feeds first, or pass --model-id",
        )
    return recorded[1]


@dataclass(frozen=True)
class Attestation:
    """An attested proof of one epoch, and its publication.

    Attributes:
        epoch: the feed round proved.
        input: the model's input at that epoch (the source's instances as floats).
        proof: the proof file (in the workspace's ``attested/``).
        publication: the oracle's answer, None when not published.
    """

    epoch: int
    input: tuple[float, ...]
    proof: Path
    publication: Publication | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"epoch": self.epoch, "input": list(self.input), "proof": str(self.proof)}
        if self.publication is not None:
            data["publication"] = self.publication.as_dict()
        return data


def attest(
    circuit: ProvableCircuit,
    model: OracleModel,
    conn: Connection,
    *,
    feed: str,
    epoch: int | None = None,
    oracle: str | None = None,
    model_id: str | None = None,
    publish: bool = True,
    sender: Sender | None = None,
) -> Attestation:
    """Prove the model on ``feed``'s window at ``epoch`` (default: the latest) and publish it.

    Raises:
        AttestationError: an epoch the oracle would refuse, or a window outside the registered bounds.
        OracleError, ChainError: a refused or failed chain step.
    """
    from zkml.oracle.attest import check_epoch, prove_attested
    from zkml.oracle.client import publish as publish_proof
    from zkml.oracle.feed import attested_input, latest_epoch
    from zkml.oracle.registry import read_model

    if epoch is not None:
        check_epoch(epoch)  # a negative or huge epoch is refused by name before any chain read
    address = model.oracle_address(conn, oracle)
    mid = model.model_id(conn, model_id)
    registered = read_model(conn, address, mid)
    latest = latest_epoch(conn, feed)
    at = epoch if epoch is not None else latest
    check_epoch(at, latest=latest, max_epoch_lag=int(registered["max_epoch_lag"]) if registered else None)
    attested = attested_input(conn, feed, at, model.returns_spec())
    proof = prove_attested(circuit, attested, model.spec, registered["bounds"] if registered else ())
    publication = publish_proof(conn, address, mid, proof, epochs=[at], on_replay="read", sender=sender) if publish else None
    return Attestation(at, tuple(attested.values), proof, publication)


def act(
    model: OracleModel,
    conn: Connection,
    *,
    oracle: str | None = None,
    model_id: str | None = None,
    index: int | None = None,
    consumer: str | None = None,
    sender: Sender | None = None,
) -> tuple[ConsumerState, int]:
    """Let the workspace's vault rebalance on the prediction for its feed's latest epoch (anyone may call it).

    Args:
        index: a multi-feed model's feed: its FeedForecastVault acts on that feed's prediction.
        consumer: the vault's address; default: the one this workspace deployed for the oracle and model.

    Returns:
        The vault's state afterwards and the gas used.

    Raises:
        OracleError: no vault is recorded for the oracle and model (deploy one first).
        OracleRevertError: the vault refused: ``NotLatestEpoch`` (the feed's latest epoch is not published),
            ``NotNewer`` (it already acted on it), ``CooldownActive``, ``Stale``, ...
    """
    from zkml.errors import OracleError
    from zkml.oracle.consumer import consumer_act

    address = model.oracle_address(conn, oracle)
    mid = model.model_id(conn, model_id, multi_feed=index is not None)
    vault = consumer or model.consumer_address(conn, address, mid, index=index)
    if vault is None:
        which = "a ForecastVault" if index is None else f"feed {index}'s FeedForecastVault"
        flag = "" if index is None else f" --feed-index {index}"
        raise OracleError(
            f"no vault recorded in {model.root} for model 0x{mid.hex()} on chain {conn.chain_id}",
            hint=f"deploy {which} with `zkml oracle deploy --consumer{flag}`, or pass --consumer ADDR",
        )
    return consumer_act(conn, vault, sender=sender)


__all__ = ["Attestation", "FeedAttestation", "act", "attest", "attest_feeds", "register", "source_for"]
