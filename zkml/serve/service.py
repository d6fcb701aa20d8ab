"""The service: a job store, the served models and their backends, the dispatcher, the publisher and metrics.

:class:`Service` owns everything the HTTP app (:mod:`zkml.serve.app`) and the
keeper (:mod:`zkml.serve.keeper`) use. ``start`` first takes back what a dead
replica left (jobs whose lease expired go back to the queue; on SQLite, whose
file lock proves the last service is gone, every leased job at once;
publications with a recorded hash are resolved from the chain by the publisher
before it sends anything), then starts the workers and the lease heartbeat.
Any number of services may share one PostgreSQL store: each is a replica with
its own id, and never touches a live replica's jobs.

``stop`` drains: the proofs in flight finish and are recorded, whatever this
replica still holds goes back to the store (queued jobs to the queue,
publications to any replica), the prover processes exit cleanly.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkml.errors import ConfigError
from zkml.serve.backends import Backend, BackendConfig, make_backend
from zkml.serve.folding import EpochFolder, Folder, FoldingConfig, build_folded_spec
from zkml.serve.metrics import ServeMetrics
from zkml.serve.models import ServedModel
from zkml.serve.owner import StoreOwner
from zkml.serve.publisher import Publisher
from zkml.serve.store import DEFAULT_HEARTBEAT_S, DEFAULT_LEASE_S, JobStore, replica_id
from zkml.serve.worker import Dispatcher, LeaseHeartbeat

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: far above any model input here, far below what would hurt


@dataclass(frozen=True)
class ServeConfig:
    """How a service runs.

    Attributes:
        store_url: a SQLite path or a ``postgresql://`` URL.
        data_dir: where inputs and proofs are written.
        backend: process pool or Ray, and how many workers.
        max_queue: jobs queued or proving beyond which a POST gets 429.
        max_body_bytes: request bodies above this are refused (413) before they are read.
        run_workers: False serves the API only (tests of the API): it neither proves nor recovers.
        folding: fold queued jobs of a model into batched proofs (``batch_size`` > 1).
        listen: the address the API listens on, recorded for a second service to be told whose store it is.
        lease_s: how long a claimed job stays this replica's without a heartbeat (then another takes it over).
        heartbeat_s: how often leases are extended and expired leases looked for (at most half the lease).
    """

    store_url: str
    data_dir: Path
    backend: BackendConfig = field(default_factory=BackendConfig)
    max_queue: int = 64
    max_body_bytes: int = DEFAULT_MAX_BODY
    run_workers: bool = True
    folding: FoldingConfig = field(default_factory=FoldingConfig)
    listen: str | None = None
    lease_s: float = DEFAULT_LEASE_S
    heartbeat_s: float = DEFAULT_HEARTBEAT_S

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_s <= self.lease_s / 2:
            raise ConfigError(
                f"heartbeat {self.heartbeat_s} s with a lease of {self.lease_s} s; the heartbeat must be positive and at most half the lease",
                hint="e.g. --lease 30 --heartbeat 10",
            )
        if self.max_queue < 1:
            raise ConfigError(f"max_queue = {self.max_queue}; need at least 1")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes = {self.max_body_bytes}; need at least 1024")


class Service:
    """A running proving service (start it, then hand it to :func:`zkml.serve.app.create_app`).

    Args:
        config: how it runs.
        models: the served models by name.
        folded_publishing: per model, its registered batch-B workspace served with the batch registration's binding:
            that model's publishing jobs are folded B distinct epochs a proof and published in one transaction.
    """

    def __init__(
        self, config: ServeConfig, models: Mapping[str, ServedModel], folded_publishing: Mapping[str, ServedModel] | None = None
    ) -> None:
        if not models:
            raise ConfigError("no model to serve", hint="give at least one TARGET")
        self.config = config
        self.models = dict(models)
        self.folded_publishing = dict(folded_publishing or {})
        self.replica = replica_id()
        self.store = JobStore(config.store_url, owner=self.replica, lease_s=config.lease_s)
        self.metrics = ServeMetrics(self.store.depth, self.store.counts, self.store.count_events)
        self.backends: dict[str, Backend] = {}
        self.dispatcher: Dispatcher | None = None
        self.publisher: Publisher | None = None
        self.heartbeat: LeaseHeartbeat | None = None
        self.recovered = 0
        self._lock = threading.Lock()
        self._owner: StoreOwner | None = None

    def start(self) -> Service:
        """Take the store (SQLite: one service at a time), take back dead replicas' jobs, start the workers.

        Raises:
            ConfigError: another service holds this SQLite store (nothing of its jobs was touched).
        """
        if not self.config.run_workers:
            return self
        alone = self.store.db.dialect.name == "sqlite"
        if alone:
            self._owner = StoreOwner(self.store.db.sqlite_path, listen=self.config.listen)
        self.recovered = self.store.expire_leases(everyone=alone)
        if self.recovered:
            log.warning("took back %d jobs that a stopped replica left (their leases expired)", self.recovered)
        data = Path(self.config.data_dir)
        for name, model in self.models.items():
            self.backends[name] = make_backend(model.spec, data / "proofs" / name, self.config.backend)
        folders = self._folders(data) if self.config.folding.batch_size > 1 else {}
        epoch_folders = self._epoch_folders(data)
        groups = {name: batch.binding for name, batch in self.folded_publishing.items() if batch.binding is not None}
        self.publisher = Publisher(self.store, self.models, self.metrics, data / "publish", groups=groups)
        self.dispatcher = Dispatcher(
            self.store, self.models, self.backends, data, self.metrics, on_proved=self.publisher.wake.set, folders=folders,
            epoch_folders=epoch_folders,
        )  # fmt: skip
        self.heartbeat = LeaseHeartbeat(self.store, self.config.heartbeat_s, on_requeued=self.wake)
        self.publisher.start()
        self.dispatcher.start()
        self.heartbeat.start()
        log.info("replica %s started (lease %.1f s, heartbeat %.1f s)", self.replica, self.config.lease_s, self.config.heartbeat_s)
        return self

    def _folders(self, data: Path) -> dict[str, Folder]:
        """Each model's batched circuit (built once, then reused from its folder) and its backend."""
        size = self.config.folding.batch_size
        folders = {}
        for name, model in self.models.items():
            batch = self.folded_publishing.get(name)
            if batch is not None and batch.spec.batch_size == size:
                spec = batch.spec  # the registered batch workspace serves both folders: no second batch circuit to build
            else:
                spec = build_folded_spec(model, size, data / f"batch-{size}" / name)
            backend = make_backend(spec, data / "proofs" / f"{name}-batch-{size}", self.config.backend)
            self.backends[f"{name}#batch"] = backend
            folders[name] = Folder(model, spec, backend, data / "inputs" / f"batch-{size}", self.config.folding)
        return folders

    def _epoch_folders(self, data: Path) -> dict[str, EpochFolder]:
        """Each model folding its publishing jobs: a backend on its registered batch workspace."""
        folders = {}
        for name, batch in self.folded_publishing.items():
            size = batch.spec.batch_size
            backend = make_backend(batch.spec, data / "proofs" / f"{name}-published-batch-{size}", self.config.backend)
            self.backends[f"{name}#published-batch"] = backend
            config = FoldingConfig(batch_size=size, max_wait_s=self.config.folding.max_wait_s)
            folders[name] = EpochFolder(self.models[name], batch.spec, backend, data / "inputs" / f"published-batch-{size}", config)
        return folders

    def wake(self) -> None:
        """Tell the dispatcher a job was queued."""
        if self.dispatcher is not None:
            self.dispatcher.wake.set()

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the queue's depth times the mean proof time, over the workers."""
        proofs = [s for metric in self.metrics.prove_seconds.collect() for s in metric.samples]
        total = sum(s.value for s in proofs if s.name.endswith("_sum"))
        count = sum(s.value for s in proofs if s.name.endswith("_count"))
        mean = total / count if count else 1.0
        return max(1, math.ceil(self.store.depth() * mean / max(self.config.backend.workers, 1)))

    def drain(self) -> None:
        """Stop taking work, at once (a signal handler may call it): what is being proved or sent still finishes."""
        for thread in (self.dispatcher, self.publisher):
            if thread is not None:
                thread.stop()

    def stop(self) -> None:
        """Drain: finish and record the proofs in flight, give back what this replica holds, stop the provers, close the store."""
        self.drain()
        for thread in (self.dispatcher, self.publisher):
            if thread is not None:
                thread.join(timeout=600)
        if self.config.run_workers:
            released = self.store.release_leases()
            if released:
                log.info("gave back %d jobs this replica held", released)
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat.join(timeout=30)
        for backend in self.backends.values():
            backend.close()
        self.store.close()
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def model(self, name: str) -> ServedModel | None:
        return self.models.get(name)

    def describe(self) -> dict[str, Any]:
        """What the page and ``GET /v1/status`` show about the service itself."""
        return {
            "backend": self.config.backend.kind,
            "workers": self.config.backend.workers,
            "max_queue": self.config.max_queue,
            "store": self.store.db.dialect.name,
            "counts": self.store.counts(),
            "proofs_per_second": round(self.metrics.proofs_per_second(), 4),
        }
