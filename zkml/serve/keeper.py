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
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.errors import ZkmlError
from zkml.serve.models import ServedModel
from zkml.serve.store import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeeperReport:
    """What one keeper pass did."""

    latest: int
    queued: tuple[int, ...]
    existing: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]


def keeper_key(model: str, epoch: int) -> str:
    """The idempotency key of a model's job at an epoch (shared by every keeper)."""
    return f"keeper:{model}:{epoch}"


class Keeper:
    """Queues a publishing job for each new epoch of a model's feed.

    Args:
        store: the job store the service proves from (each keeper may open its own on the same URL).
        model: the served model; its binding names the chain, oracle and feed.
        max_epoch_lag: the model's registered lag: older epochs are skipped (the oracle would refuse them).
        staging: a folder for input checks.
        on_queued: called after a pass that queued jobs (wakes the dispatcher).
    """

    def __init__(self, store: JobStore, model: ServedModel, *, max_epoch_lag: int, staging: Path, on_queued: Any = None) -> None:
        from zkml.evm.rpc import connect
        from zkml.oracle.binding import workspace_bounds
        from zkml.oracle.mirror import ReturnsSpec
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
        self.spec = ReturnsSpec(window=layout.sample_width, scale=layout.input_scale, multiplier=binding.multiplier)
        self.bounds = workspace_bounds(model.root, layout.input_scale, layout.sample_width)
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def last_queued(self) -> int | None:
        """The newest epoch any keeper queued for this model, if any."""
        rows = self.store.db.execute(
            "SELECT MAX(epoch) FROM jobs WHERE model = ? AND idem_key LIKE ?", (self.model.name, f"keeper:{self.model.name}:%")
        )
        return None if rows[0][0] is None else int(rows[0][0])

    def step(self) -> KeeperReport:
        """One pass: queue every epoch from after the last queued one to the feed's latest."""
        from zkml.oracle.feed import latest_epoch

        latest = latest_epoch(self.conn, self.feed)
        last = self.last_queued()
        first = latest if last is None else last + 1
        oldest_allowed = latest - self.max_epoch_lag
        queued: list[int] = []
        existing: list[int] = []
        skipped: list[tuple[int, str]] = []
        for epoch in range(first, latest + 1):
            if epoch < oldest_allowed:
                why = f"epoch {epoch} is more than max_epoch_lag {self.max_epoch_lag} rounds behind the feed's latest epoch {latest}"
                skipped.append((epoch, f"{why}: the oracle accepts epochs {oldest_allowed}..{latest} now"))
                continue
            try:
                made = self._queue(epoch)
            except ZkmlError as exc:
                log.warning("keeper: epoch %d of %s skipped: %s", epoch, self.model.name, exc)
                skipped.append((epoch, str(exc)))
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
