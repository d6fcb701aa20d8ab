"""The keeper: watches a price feed and queues one publishing job per new epoch.

For each new round it builds the attested input exactly as the chain computes
it (:func:`zkml.oracle.feed.attested_input`), checks it with the CLI's input
rules and the model's registered bounds, and queues a job that proves it and
publishes it at that epoch. The job's idempotency key is ``keeper:<model>:<epoch>``
in the shared job store, so any number of keepers queue each epoch once;
the oracle's replay guard on (model, epoch) backs that up on chain.

Catching up: a keeper resumes after the newest epoch any keeper queued for the
model, up to the feed's latest round, skipping epochs the oracle would refuse as
too old (``max_epoch_lag``).

The input is recomputed with the parameters the model's registered feature source
holds on chain (multiplier, circuit breaker), read once at start: an epoch the
source refuses (its circuit breaker, a bad round) is skipped with a message that
names the epoch, never queued to fail at publication.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.errors import ZkmlError
from zkml.serve.models import OracleBinding, ServedModel
from zkml.serve.publisher import naming_epoch
from zkml.serve.store import JobStore

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection
    from zkml.oracle.mirror import ReturnsSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeeperReport:
    """What one keeper pass did."""

    latest: int
    queued: tuple[int, ...]
    existing: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]


def registered_spec(conn: Connection, binding: OracleBinding, width: int, scale: int) -> ReturnsSpec:
    """The returns spec of the model's registered feature source, read from chain.

    The keeper's input must be what the source attests, so its multiplier and circuit breaker
    come from the source's immutables, not from a config that may say otherwise.

    Raises:
        ZkmlError: the model is not registered as attested, its source reads another feed, or
            its window or input scale is not the workspace's.
    """
    from zkml.oracle.feed import source_spec
    from zkml.oracle.registry import read_model

    registered = read_model(conn, binding.oracle, binding.model_id)
    if registered is None or not registered["attested"]:
        raise ZkmlError(
            f"model 0x{binding.model_id.hex()} is not registered as attested at oracle {binding.oracle}",
            hint="register it with a feature source over the feed (`zkml oracle register --feed`) before keeping it",
        )
    source = str(registered["source"])
    feed, spec = source_spec(conn, source)
    if feed.lower() != str(binding.feed).lower():
        raise ZkmlError(f"the model's feature source {source} reads feed {feed}, not {binding.feed}", hint="serve it with --feed " + feed)
    if (spec.window, spec.scale) != (width, scale):
        raise ZkmlError(
            f"the model's feature source {source} has window {spec.window} and input scale {spec.scale}, "
            f"the workspace's model {width} and {scale}"
        )
    return spec


def keeper_key(model: str, epoch: int) -> str:
    """The idempotency key of a model's job at an epoch (shared by every keeper)."""
    return f"keeper:{model}:{epoch}"


@dataclass(frozen=True)
class EpochPlan:
    """What one keeper pass does: the epochs to queue, oldest first, and those too old to publish (with why)."""

    to_queue: tuple[int, ...]
    too_old: tuple[tuple[int, str], ...]


def plan_epochs(latest: int, last_queued: int | None, max_epoch_lag: int) -> EpochPlan:
    """Every epoch after the last queued one up to the feed's latest; those beyond the lag are skipped, named.

    A keeper that has queued nothing yet starts at the latest epoch (it does not backfill history).
    """
    first = latest if last_queued is None else last_queued + 1
    oldest_allowed = latest - max_epoch_lag
    too_old = tuple(
        (
            epoch,
            f"epoch {epoch} is more than max_epoch_lag {max_epoch_lag} rounds behind the feed's latest epoch {latest}: "
            f"the oracle accepts epochs {oldest_allowed}..{latest} now",
        )
        for epoch in range(first, min(oldest_allowed, latest + 1))
    )
    return EpochPlan(tuple(range(max(first, oldest_allowed), latest + 1)), too_old)


class Keeper:
    """Queues a publishing job for each new epoch of a model's feed.

    Args:
        store: the job store the service proves from (each keeper may open its own on the same URL).
        model: the served model; its binding names the chain, oracle and feed.
        max_epoch_lag: the model's registered lag: older epochs are skipped (the oracle would refuse them).
        staging: a folder for input checks.
        on_queued: called after a pass that queued jobs (wakes the dispatcher).
    """

    def __init__(
        self, store: JobStore, model: ServedModel, *, max_epoch_lag: int, staging: Path, on_queued: Callable[[], object] | None = None
    ) -> None:
        from zkml.evm.rpc import connect
        from zkml.oracle.binding import workspace_bounds
        from zkml.oracle.registry import workspace_model

        binding = model.binding
        if binding is None or binding.feed is None:
            raise ZkmlError(f"model {model.name!r} has no feed to keep", hint="serve it with --oracle and --feed")
        self.store = store
        self.model = model
        self.feed = binding.feed
        self.max_epoch_lag = max_epoch_lag
        self.staging = Path(staging)
        self.on_queued = on_queued
        self.conn = connect(binding.rpc_url)
        layout = workspace_model(model.root).spec
        self.spec = registered_spec(self.conn, binding, layout.sample_width, layout.input_scale)
        self.bounds = workspace_bounds(model.root, layout.input_scale, layout.sample_width)
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def last_queued(self) -> int | None:
        """The newest epoch any keeper queued for this model, if any."""
        return self.store.last_keyed_epoch(self.model.name, f"keeper:{self.model.name}:")

    def step(self) -> KeeperReport:
        """One pass: queue every epoch from after the last queued one to the feed's latest."""
        from zkml.oracle.feed import latest_epoch

        latest = latest_epoch(self.conn, self.feed)
        plan = plan_epochs(latest, self.last_queued(), self.max_epoch_lag)
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

    def _queue(self, epoch: int) -> bool:
        from zkml.oracle.attest import check_bounds
        from zkml.oracle.feed import attested_input

        attested = attested_input(self.conn, self.feed, epoch, self.spec)
        check_bounds(attested.instances, self.bounds, epoch=epoch)
        text = self.model.check_input(attested.input_data(), self.staging)
        _, created = self.store.submit(
            self.model.name, text, publish=True, epoch=epoch, idem_key=keeper_key(self.model.name, epoch), request_hash=json.dumps(epoch)
        )
        if created:
            log.info("keeper: queued %s at epoch %d", self.model.name, epoch)
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
