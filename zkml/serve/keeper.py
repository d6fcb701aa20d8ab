"""The keeper: watches a model's price feed(s) and queues one publishing job per new epoch (or batch of epochs).

For each new round it builds the attested input exactly as the chain computes
it (:func:`zkml.oracle.feed.attested_input`), checks it with the CLI's input
rules and the model's registered bounds, and queues a job that proves it and
publishes it at that epoch. The job's idempotency key is ``keeper:<model>:<epoch>``
in the shared job store, so any number of keepers queue each epoch once;
the oracle's replay guard on (model, epoch) backs that up on chain.

Three shapes of kept model, told apart by the registration on chain:

- one feed, batch 1: one job per epoch (the input is the feed's window at it);
- multi-feed (registered with K sources, ``feedsOf``): one job per epoch whose input
  is the K feeds' windows at that epoch, sample k from feed k, proved on the batch-K
  circuit and published once (the oracle checks each sample against its own source);
- one feed, ``batch_epochs`` N > 1 (registered with batch size N): one job per N
  consecutive epochs, keyed by the first; the keeper waits until the N-th is out.

Catching up: a keeper resumes after the newest epoch (batch) any keeper queued for
the model, up to the feed's latest round (the lowest latest round of the K feeds),
skipping epochs the oracle would refuse as too old (``max_epoch_lag``).

The input is recomputed with the parameters the model's registered feature source(s)
hold on chain (multiplier, circuit breaker), read once at start: an epoch a source
refuses (its circuit breaker, a bad round) is skipped with a message that names the
epoch, never queued to fail at publication.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import ConfigError, ZkmlError
from zkml.serve.models import OracleBinding, ServedModel
from zkml.serve.publisher import naming_epoch
from zkml.serve.store import JobStore

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection
    from zkml.oracle.mirror import ReturnsSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeeperReport:
    """What one keeper pass did (epochs are each job's first epoch)."""

    latest: int
    queued: tuple[int, ...]
    existing: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class KeptFeeds:
    """What the keeper reads: sample k of a batch from ``feeds[k]`` with ``specs[k]`` (one entry for a one-feed model).

    Attributes:
        feeds: the AggregatorV3 feeds, in batch order.
        specs: each feed's registered source parameters (window, scale, multiplier, breaker).
        multi_feed: registered with one source per sample (all samples at one epoch).
    """

    feeds: tuple[str, ...]
    specs: tuple[ReturnsSpec, ...]
    multi_feed: bool = False


def _registration(conn: Connection, binding: OracleBinding) -> dict[str, Any]:
    from zkml.oracle.registry import read_model

    registered = read_model(conn, binding.oracle, binding.model_id)
    if registered is None or not registered["attested"]:
        raise ZkmlError(
            f"model 0x{binding.model_id.hex()} is not registered as attested at oracle {binding.oracle}",
            hint="register it with a feature source over the feed (`zkml oracle register --feed`) before keeping it",
        )
    return registered


def _checked_spec(source: str, spec: ReturnsSpec, width: int, scale: int) -> ReturnsSpec:
    if (spec.window, spec.scale) != (width, scale):
        raise ZkmlError(
            f"the model's feature source {source} has window {spec.window} and input scale {spec.scale}, "
            f"the workspace's model {width} and {scale}"
        )
    return spec


def registered_spec(conn: Connection, binding: OracleBinding, width: int, scale: int) -> ReturnsSpec:
    """The returns spec of the model's registered feature source, read from chain.

    The keeper's input must be what the source attests, so its multiplier and circuit breaker
    come from the source's immutables, not from a config that may say otherwise.

    Raises:
        ZkmlError: the model is not registered as attested, its source reads another feed, or
            its window or input scale is not the workspace's.
    """
    from zkml.oracle.feed import source_spec

    source = str(_registration(conn, binding)["source"])
    feed, spec = source_spec(conn, source)
    if feed.lower() != str(binding.feed).lower():
        raise ZkmlError(f"the model's feature source {source} reads feed {feed}, not {binding.feed}", hint="serve it with --feed " + feed)
    return _checked_spec(source, spec, width, scale)


def kept_feeds(conn: Connection, binding: OracleBinding, width: int, scale: int) -> KeptFeeds:
    """The feed(s) a model is kept over, as registered: its K sources (multi-feed) or its one source over ``binding.feed``.

    Raises:
        ZkmlError: as :func:`registered_spec`; for a one-feed model, also no ``binding.feed``.
    """
    from zkml.oracle.feed import source_spec

    sources = tuple(str(s) for s in _registration(conn, binding)["feeds"])
    if not sources:
        if binding.feed is None:
            raise ZkmlError(f"model 0x{binding.model_id.hex()} reads one feed, and none is given", hint="serve it with --feed")
        return KeptFeeds((binding.feed,), (registered_spec(conn, binding, width, scale),))
    read = [source_spec(conn, source) for source in sources]
    specs = tuple(_checked_spec(source, spec, width, scale) for source, (_, spec) in zip(sources, read, strict=True))
    return KeptFeeds(tuple(feed for feed, _ in read), specs, multi_feed=True)


def keeper_key(model: str, epoch: int) -> str:
    """The idempotency key of a model's job at an epoch (a batch of epochs: its first; shared by every keeper)."""
    return f"keeper:{model}:{epoch}"


@dataclass(frozen=True)
class EpochPlan:
    """What one keeper pass does: the epochs (batches' first epochs) to queue, oldest first, and those too old to publish."""

    to_queue: tuple[int, ...]
    too_old: tuple[tuple[int, str], ...]


def plan_epochs(latest: int, last_queued: int | None, max_epoch_lag: int) -> EpochPlan:
    """Every epoch after the last queued one up to the feed's latest; those beyond the lag are skipped, named.

    A keeper that has queued nothing yet starts at the latest epoch (it does not backfill history).
    """
    return plan_batches(latest, last_queued, max_epoch_lag, 1)


def plan_batches(latest: int, last_first: int | None, max_epoch_lag: int, size: int) -> EpochPlan:
    """The batches of ``size`` consecutive epochs, by first epoch, after the last queued one and complete by ``latest``.

    Batches follow one another (first, first + size, ...); one whose first epoch is more than the lag
    behind ``latest`` is skipped, named (the oracle would refuse it). A keeper that has queued nothing
    yet starts with the batch that ends at ``latest`` (no backfill of history).
    """
    first = latest - size + 1 if last_first is None else last_first + size
    oldest_allowed = latest - max_epoch_lag
    starts = range(first, latest - size + 2, size)
    too_old = tuple(
        (
            start,
            f"epoch {start} is more than max_epoch_lag {max_epoch_lag} rounds behind the feed's latest epoch {latest}: "
            f"the oracle accepts epochs {oldest_allowed}..{latest} now",
        )
        for start in starts
        if start < oldest_allowed
    )
    return EpochPlan(tuple(s for s in starts if s >= oldest_allowed), too_old)


class Keeper:
    """Queues a publishing job for each new epoch of a model's feed(s) (or each ``batch_epochs`` new epochs).

    Args:
        store: the job store the service proves from (each keeper may open its own on the same URL).
        model: the served model; its binding names the chain, oracle and feed. A multi-feed model
            (K sources) or ``batch_epochs`` N must be served on its batch-K (batch-N) circuit.
        max_epoch_lag: the model's registered lag: older epochs are skipped (the oracle would refuse them).
        staging: a folder for input checks.
        on_queued: called after a pass that queued jobs (wakes the dispatcher).
        batch_epochs: a one-feed model registered with batch size N: one job per N consecutive epochs.
    """

    def __init__(
        self,
        store: JobStore,
        model: ServedModel,
        *,
        max_epoch_lag: int,
        staging: Path,
        on_queued: Callable[[], object] | None = None,
        batch_epochs: int = 1,
    ) -> None:
        from zkml.evm.rpc import connect
        from zkml.oracle.binding import workspace_bounds
        from zkml.oracle.registry import workspace_model

        binding = model.binding
        if binding is None:
            raise ZkmlError(f"model {model.name!r} has no oracle to keep", hint="serve it with --oracle (and --feed)")
        self.store = store
        self.model = model
        self.max_epoch_lag = max_epoch_lag
        self.staging = Path(staging)
        self.on_queued = on_queued
        self.conn = connect(binding.rpc_url)
        layout = workspace_model(model.root).spec
        self.kept = kept_feeds(self.conn, binding, layout.sample_width, layout.input_scale)
        self.batch_epochs = batch_epochs
        self._check_batch(model.spec.batch_size)
        self.feed = self.kept.feeds[0]
        self.spec = self.kept.specs[0]
        self.bounds = workspace_bounds(model.root, layout.input_scale, layout.sample_width)
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def _check_batch(self, circuit_batch: int) -> None:
        """The served circuit proves exactly one job's samples: K feeds, or N epochs."""
        if self.batch_epochs < 1:
            raise ConfigError(f"--batch-epochs {self.batch_epochs}: need 1 or more")
        if self.kept.multi_feed and self.batch_epochs != 1:
            raise ConfigError("a multi-feed model is kept one epoch per batch", hint="drop --batch-epochs")
        if self.batch_epochs - 1 > self.max_epoch_lag:
            raise ConfigError(
                f"--batch-epochs {self.batch_epochs} spans more than max_epoch_lag {self.max_epoch_lag} + 1 epochs",
                hint="the oracle would refuse every batch's first epoch as too old",
            )
        wanted = len(self.kept.feeds) if self.kept.multi_feed else self.batch_epochs
        if circuit_batch != wanted:
            what = f"{wanted} feeds" if self.kept.multi_feed else f"{wanted} epoch{'s' if wanted > 1 else ''} per job"
            raise ConfigError(
                f"model {self.model.name!r} is kept over {what}, but the served circuit proves batches of {circuit_batch}",
                hint=f"serve its batch-{wanted} circuit (`zkml serve start TARGET --circuit-batch {wanted}`)",
            )

    @property
    def size(self) -> int:
        """Samples per job."""
        return len(self.kept.feeds) if self.kept.multi_feed else self.batch_epochs

    def last_queued(self) -> int | None:
        """The newest epoch (batch's first epoch) any keeper queued for this model, if any."""
        return self.store.last_keyed_epoch(self.model.name, f"keeper:{self.model.name}:")

    def latest(self) -> int:
        """The newest epoch every kept feed has."""
        from zkml.oracle.feed import latest_epoch

        return min(latest_epoch(self.conn, feed) for feed in self.kept.feeds)

    def step(self) -> KeeperReport:
        """One pass: queue every epoch (batch) from after the last queued one to the feeds' latest."""
        latest = self.latest()
        plan = plan_batches(latest, self.last_queued(), self.max_epoch_lag, self.batch_epochs)
        queued: list[int] = []
        existing: list[int] = []
        skipped: list[tuple[int, str]] = list(plan.too_old)
        for epoch in plan.to_queue:
            try:
                made = self._queue(epoch)
            except ZkmlError as exc:
                log.warning("keeper: epoch %d of %s skipped: %s", epoch, self.model.name, exc)
                skipped.append((epoch, naming_epoch(epoch, str(exc))))
                continue
            (queued if made else existing).append(epoch)
        if queued and self.on_queued is not None:
            self.on_queued()
        return KeeperReport(latest, tuple(queued), tuple(existing), tuple(skipped))

    def job_epochs(self, first: int) -> tuple[int, ...]:
        """Each sample's epoch in the job that starts at ``first`` (what the publisher submits)."""
        return (first,) * self.size if self.kept.multi_feed else tuple(range(first, first + self.batch_epochs))

    def _queue(self, first: int) -> bool:
        from zkml.oracle.attest import check_bounds
        from zkml.oracle.feed import attested_input

        epochs = self.job_epochs(first)
        feeds = self.kept.feeds if self.kept.multi_feed else (self.feed,) * len(epochs)
        specs = self.kept.specs if self.kept.multi_feed else (self.spec,) * len(epochs)
        values: list[float] = []
        for feed, epoch, spec in zip(feeds, epochs, specs, strict=True):
            attested = attested_input(self.conn, feed, epoch, spec)
            check_bounds(attested.instances, self.bounds, epoch=epoch)
            values.extend(attested.values)
        text = self.model.check_input({"input_data": [values]}, self.staging)
        # The request hash of a one-sample job stays its epoch (stores written before batches keep their keys valid).
        request = json.dumps(first) if len(epochs) == 1 else json.dumps(list(epochs))
        _, created = self.store.submit(
            self.model.name, text, publish=True, epoch=first, idem_key=keeper_key(self.model.name, first), request_hash=request
        )
        if created:
            log.info("keeper: queued %s at epoch%s %s", self.model.name, "s" if len(epochs) > 1 else "", _span(epochs))
        return created

    def run(self, poll_seconds: float = 1.0) -> None:
        """Watch the feed until :meth:`stop` (each pass's failure is logged; the next pass retries)."""
        while not self._halt.is_set():
            try:
                self.step()
            except ZkmlError as exc:
                log.warning("keeper pass failed: %s", exc)
            self._halt.wait(poll_seconds)

    def start(self, poll_seconds: float = 1.0) -> Keeper:
        """Run in a background thread."""
        self._thread = threading.Thread(target=self.run, args=(poll_seconds,), name="zkml-serve-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def _span(epochs: tuple[int, ...]) -> str:
    first, last = min(epochs), max(epochs)
    return str(first) if first == last else f"{first}..{last}"
