"""Multi-feed models: one batch-K model over K feeds, proved and published once per epoch.

A model registered with K feature sources (:func:`zkml.oracle.registry.register_model`
with ``feeds``) reads sample k of every batch from source k, all K samples at ONE
epoch E. One proof covers the K feeds at E; the oracle checks each sample against its
own source's instances at E (``SampleFromAnotherFeed``, ``FeedsSwapped``, ``MixedEpochs``
name the attacks) and keeps each feed's newest prediction, read per feed with
:func:`read_feed_prediction`. Replay is keyed per (model, feed index, epoch)
(:func:`zkml.oracle.encoding.feed_key`).

Here: deploy (or reuse) one source per feed (:func:`deploy_sources`, each recorded in its
own folder, since a deployments record holds one source per chain), read the K windows
at an epoch as the sources compute them (:func:`feed_batch`, through
:mod:`zkml.oracle.mirror`), prove them as one batch (:func:`prove_feed_batch`), and read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import AttestationError, OracleError

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection, Sender
    from zkml.oracle.client import Prediction
    from zkml.oracle.compile import OracleContracts
    from zkml.oracle.feed import AttestedInput
    from zkml.oracle.layout import ModelSpec
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.proving.warm import ProverSpec

# Where a workspace records the source of each of its feeds: FEEDS_DIR/<feed address>/deployments.json.
FEEDS_DIR = "feeds"


@dataclass(frozen=True)
class FeedBatch:
    """The K samples of an attested batch: sample k is ``feeds[k]``'s window at ``epochs[k]``.

    A multi-feed batch has K feeds at one epoch; a one-feed batch has one feed at K consecutive epochs.

    Attributes:
        epochs: each sample's epoch, as ``submitAttested`` takes them.
        feeds: the AggregatorV3 feed each sample reads, in batch order.
        inputs: each sample's attested input (recomputed by :mod:`zkml.oracle.mirror`).
    """

    epochs: tuple[int, ...]
    feeds: tuple[str, ...]
    inputs: tuple[AttestedInput, ...]

    @property
    def epoch(self) -> int:
        """The batch's newest epoch (its only one, for a multi-feed batch)."""
        return max(self.epochs)

    @property
    def name(self) -> str:
        """The proof's file stem: ``feeds-epoch-E`` or ``epochs-FIRST-LAST``."""
        first, last = min(self.epochs), max(self.epochs)
        return f"feeds-epoch-{last}" if first == last else f"epochs-{first}-{last}"

    @property
    def instances(self) -> tuple[int, ...]:
        """The batch's input instances, sample-major: what the proof's inputs must be."""
        return tuple(v for item in self.inputs for v in item.instances)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "epoch": self.epoch,
            "epochs": list(self.epochs),
            "samples": [{"feed": feed, **item.as_dict()} for feed, item in zip(self.feeds, self.inputs, strict=True)],
        }


def deploy_sources(
    conn: Connection,
    record_dir: Path,
    feeds: Sequence[str],
    spec: ReturnsSpec,
    *,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> tuple[str, ...]:
    """Deploy (or reuse) one ReturnsFeatureSource per feed, in order; each recorded in ``record_dir/feeds/<feed>``.

    Raises:
        OracleError: no feeds, or a feed given twice.
        OracleRevertError, ChainError: a deployment failed.
    """
    from zkml.oracle.feed import deploy_source

    if not feeds:
        raise OracleError("a multi-feed model needs at least one feed")
    lowered = [f.lower() for f in feeds]
    if len(set(lowered)) != len(lowered):
        raise OracleError("a feed is given twice", hint="each sample of the batch reads its own feed")
    folder = Path(record_dir) / FEEDS_DIR
    return tuple(deploy_source(conn, folder / feed.lower(), feed, spec, sender=sender, contracts=contracts).address for feed in feeds)


def record_feeds(record_dir: Path, chain_id: int, feeds: Sequence[str], sources: Sequence[str]) -> Path:
    """Remember a workspace's multi-feed binding on a chain (``record_dir/feeds/feeds.json``), so later
    commands find its model id without the feeds being named again."""
    import json

    from zkml.workspace import write_json_atomic

    path = Path(record_dir) / FEEDS_DIR / "feeds.json"
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        data = {}
    data[str(chain_id)] = {"feeds": list(feeds), "sources": list(sources)}
    write_json_atomic(path, data)
    return path


def recorded_feeds(record_dir: Path, chain_id: int) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The feeds and sources :func:`record_feeds` remembered for ``chain_id``, or None."""
    import json

    path = Path(record_dir) / FEEDS_DIR / "feeds.json"
    try:
        entry = json.loads(path.read_text()).get(str(chain_id)) if path.is_file() else None
    except (ValueError, AttributeError):
        return None
    if not isinstance(entry, dict):
        return None
    return tuple(entry.get("feeds", ())), tuple(entry.get("sources", ()))


def common_epoch(conn: Connection, feeds: Sequence[str], *, contracts: OracleContracts | None = None) -> int:
    """The newest epoch every feed has: the lowest of their latest round ids."""
    from zkml.oracle.feed import latest_epoch

    return min(latest_epoch(conn, feed, contracts=contracts) for feed in feeds)


def feed_batch(
    conn: Connection, feeds: Sequence[str], epoch: int, spec: ReturnsSpec, *, contracts: OracleContracts | None = None
) -> FeedBatch:
    """Each feed's window at ``epoch``, recomputed from its rounds as its source computes it (sample k = feed k).

    Raises:
        OracleError: a feed has no usable window at ``epoch`` (see :func:`zkml.oracle.feed.attested_input`).
    """
    from zkml.oracle.feed import attested_input

    inputs = tuple(attested_input(conn, feed, epoch, spec, contracts=contracts) for feed in feeds)
    return FeedBatch((epoch,) * len(inputs), tuple(feeds), inputs)


def epochs_batch(
    conn: Connection, feed: str, epochs: Sequence[int], spec: ReturnsSpec, *, contracts: OracleContracts | None = None
) -> FeedBatch:
    """One feed's windows at several epochs (a one-feed batch: sample k at ``epochs[k]``, increasing).

    Raises:
        OracleError: the feed has no usable window at one of the epochs.
    """
    from zkml.oracle.feed import attested_input

    inputs = tuple(attested_input(conn, feed, int(e), spec, contracts=contracts) for e in epochs)
    return FeedBatch(tuple(int(e) for e in epochs), (feed,) * len(inputs), inputs)


def prove_feed_batch(prover: ProverSpec, folder: Path, batch: FeedBatch, spec: ModelSpec, bounds: Sequence[tuple[int, int]]) -> Path:
    """Prove the batched model on the K feeds' windows and check the proof's inputs are the attested ones.

    Args:
        prover: the batch-K circuit (:class:`zkml.proving.warm.ProverSpec`, batch axis K).
        folder: where the input, witness and proof go (``feeds-epoch-E.*``).
        batch: the K windows (:func:`feed_batch`).
        spec: the batched model's instance layout.
        bounds: the registered per-feature bounds (one sample's).

    Raises:
        AttestationError: the batch is not one sample per feed of this circuit, a window is outside the bounds,
            or the proof's inputs differ from the attested ones.
    """
    import numpy as np

    from zkml.data import Samples, write_samples
    from zkml.oracle.attest import check_bounds, proof_inputs
    from zkml.proving.warm import WarmProver

    if len(batch.inputs) != spec.batch_size or prover.batch_size != spec.batch_size:
        raise AttestationError(
            f"{len(batch.inputs)} feeds for a circuit that proves batches of {prover.batch_size}",
            hint="give one feed per sample: as many feeds as the batch size",
        )
    if bounds:
        for item in batch.inputs:
            check_bounds(item.instances, bounds, epoch=item.epoch)
    name = batch.name
    path = Path(folder) / f"{name}.input.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.asarray([item.values for item in batch.inputs], dtype=np.float64)
    write_samples(path, Samples((values.reshape(prover.inputs[0].shape),)))
    proof = Path(WarmProver(prover, Path(folder)).prove(path, name=name).proof.path)
    proved = tuple(int(v) for v in proof_inputs(proof, spec))
    if proved != batch.instances:
        raise AttestationError(
            f"the batch proof's input instances differ from the feeds' windows at epochs {sorted(set(batch.epochs))}",
            hint="the circuit's input scale is not the sources' scale; deploy sources with the circuit's input scale",
        )
    return proof


def feeds_of(conn: Connection, oracle: str, model_id: bytes, *, contracts: OracleContracts | None = None) -> tuple[str, ...]:
    """A multi-feed model's feature sources, in batch order (empty for any other model)."""
    from zkml.oracle.calls import view
    from zkml.oracle.compile import compile_contracts

    contracts = contracts or compile_contracts()
    (raw,) = view(conn, contracts, contracts.oracle, oracle, "feedsOf", bytes(model_id), doing="reading the model's feeds")
    return tuple(conn.w3.to_checksum_address(a) for a in raw)


def feed_index(conn: Connection, oracle: str, model_id: bytes, address: str, *, contracts: OracleContracts | None = None) -> int:
    """The batch index of a feed of a multi-feed model, given its feature source or the AggregatorV3 feed it reads.

    Raises:
        OracleError: the model has no such feed (or is not multi-feed).
    """
    from zkml.oracle.feed import source_spec

    sources = [s.lower() for s in feeds_of(conn, oracle, model_id, contracts=contracts)]
    wanted = address.lower()
    if wanted in sources:
        return sources.index(wanted)
    read = [source_spec(conn, s, contracts=contracts)[0].lower() for s in sources]
    if wanted in read:
        return read.index(wanted)
    what = f"none of its {len(sources)} feeds" if sources else "it is not a multi-feed model"
    raise OracleError(f"{address} is no feed of model 0x{bytes(model_id).hex()}: {what}", hint="read with --index k or --feed ADDR")


def read_feed_prediction(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    *,
    index: int | None = None,
    feed: str | None = None,
    contracts: OracleContracts | None = None,
) -> tuple[Prediction, int]:
    """Feed ``index``'s (or ``feed``'s: a source or the AggregatorV3 feed it reads) newest prediction, as consumers see it.

    Returns:
        The prediction and the gas ``eth_estimateGas`` gives for ``feedPrediction`` (incl. 21,000).

    Raises:
        OracleError: neither or both of ``index`` and ``feed``, or no such feed.
        StalePredictionError: past its expiry.
        OracleRevertError: unknown or retired model, ``UnknownFeed``, ``NoPrediction``.
    """
    from zkml.evm.rpc import call, estimate_gas
    from zkml.oracle.calls import bind, decode_output
    from zkml.oracle.client import Prediction
    from zkml.oracle.compile import compile_contracts

    if (index is None) == (feed is None):
        raise OracleError("read a multi-feed prediction by index or by feed (one of them)")
    contracts = contracts or compile_contracts()
    at = index if index is not None else feed_index(conn, oracle, model_id, str(feed), contracts=contracts)
    contract = bind(conn, oracle, contracts.oracle)
    data = contract.encode_abi("feedPrediction", args=[bytes(model_id), int(at)])
    raw = call(conn, contract.address, data, f"reading feed {at}'s prediction", errors=contracts.errors)
    (record,) = decode_output(contracts.oracle, "feedPrediction", raw)
    gas = estimate_gas(conn, contract.address, data, "estimating the read", errors=contracts.errors)
    return Prediction.from_record(record), gas


__all__ = [
    "FEEDS_DIR",
    "FeedBatch",
    "common_epoch",
    "deploy_sources",
    "epochs_batch",
    "feed_batch",
    "feed_index",
    "feeds_of",
    "prove_feed_batch",
    "read_feed_prediction",
    "record_feeds",
    "recorded_feeds",
]
