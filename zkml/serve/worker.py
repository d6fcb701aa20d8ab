"""The dispatcher: claims queued jobs, proves them on the model's backend, verifies and records them.

One dispatcher thread per service. It claims up to one job per prover worker
of a model at a time (so every worker stays busy and nothing is claimed that
a worker could not start now: claimed jobs are the ones a crash puts back),
proves the group, verifies each proof in the server process (milliseconds)
and commits each result with a conditional update, so a job is recorded done
once even if a restart re-proved it.

Beside it, :class:`LeaseHeartbeat` extends the leases of the jobs this replica
holds and takes back the jobs whose replica stopped heartbeating (see
:mod:`zkml.serve.store` for the lease rules).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.serve.backends import Backend
from zkml.serve.folding import EpochFolder, Folder, is_shutdown
from zkml.serve.metrics import ServeMetrics
from zkml.serve.models import ServedModel
from zkml.serve.store import Job, JobStore

if TYPE_CHECKING:
    from zkml.proving.warm import ProofResult

log = logging.getLogger(__name__)

# How long an idle dispatcher sleeps before looking at the store again (a submit wakes it at once).
IDLE_POLL_S = 0.25


class Dispatcher(threading.Thread):
    """Proves queued jobs until stopped.

    Args:
        store: the job store.
        models: the served models by name.
        backends: each model's backend (a process pool or Ray).
        data_dir: where job inputs are written for the provers.
        metrics: the service's metrics.
        on_proved: called after a job that publishes was proved (wakes the publisher).
        folders: models whose non-publishing jobs are folded into batched proofs (:mod:`zkml.serve.folding`).
        epoch_folders: models whose publishing jobs are folded, B distinct epochs a proof (never proved one by one).
    """

    def __init__(
        self,
        store: JobStore,
        models: Mapping[str, ServedModel],
        backends: Mapping[str, Backend],
        data_dir: Path,
        metrics: ServeMetrics,
        on_proved: Callable[[], None] = lambda: None,
        folders: Mapping[str, Folder] | None = None,
        epoch_folders: Mapping[str, EpochFolder] | None = None,
    ) -> None:
        super().__init__(name="zkml-serve-dispatcher", daemon=True)
        self.store = store
        self.models = models
        self.backends = backends
        self.inputs_dir = Path(data_dir) / "inputs"
        self.inputs_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = metrics
        self.on_proved = on_proved
        self.folders = dict(folders or {})
        self.epoch_folders = dict(epoch_folders or {})
        self.wake = threading.Event()
        self._halt = threading.Event()

    def stop(self) -> None:
        """Ask the loop to end after the group it is proving."""
        self._halt.set()
        self.wake.set()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                busy = self.step()
            except Exception:  # the loop must outlive any one failure; the job itself was failed in step
                log.exception("dispatcher step failed")
                busy = False
            if not busy:
                self.wake.wait(IDLE_POLL_S)
                self.wake.clear()

    def step(self) -> bool:
        """Claim and prove one group per model with queued jobs; True when there was work."""
        busy = False
        for name in self.store.queued_models():
            if self._halt.is_set():
                break
            model, backend = self.models.get(name), self.backends.get(name)
            if model is None or backend is None:
                # Alone on its store (SQLite), no one else will ever prove it; beside other replicas, one that serves it will.
                if self.store.db.dialect.name == "sqlite":
                    for job in self.store.claim(name, 100):
                        self.store.fail(job.id, "proving", f"model {name!r} is not served here", "UnknownModel")
                continue
            folder, epochs = self.folders.get(name), self.epoch_folders.get(name)
            for fold in (folder, epochs):
                if fold is not None:
                    busy = fold.step(self.store, self.metrics, halted=self._halt.is_set) or busy
            if folder is not None and epochs is not None:
                continue
            # With folding, only the jobs no folder takes go one by one.
            only = None if folder is None and epochs is None else epochs is None
            jobs = self.store.claim(name, backend.workers, publish=only)
            if jobs and self._halt.is_set():
                # Stopped between the check and the claim: nothing started, so give them back.
                for job in jobs:
                    self.store.requeue(job.id)
            elif jobs:
                busy = True
                self.prove_group(model, backend, jobs)
        return busy

    def _input_file(self, job: Job) -> Path:
        path = self.inputs_dir / f"{job.id}.json"
        path.write_text(job.input_json)
        return path

    def prove_group(self, model: ServedModel, backend: Backend, jobs: list[Job]) -> None:
        """Prove ``jobs`` together; if the group fails, each alone, so one bad job fails only itself."""
        paths = [self._input_file(job) for job in jobs]
        try:
            results = backend.prove_many(paths)
        except Exception as exc:
            if self._halt.is_set() or is_shutdown(exc):
                # The service is stopping: the jobs are not at fault; the next start proves them again.
                for job in jobs:
                    self.store.requeue(job.id)
                return
            if len(jobs) > 1:
                log.warning("a group of %d proofs failed (%s); proving them one by one", len(jobs), exc)
                for job in jobs:
                    self.prove_group(model, backend, [job])
                return
            self._failed(jobs[0], exc)
            return
        for job, result in zip(jobs, results, strict=True):
            self._record(model, job, result)

    def _record(self, model: ServedModel, job: Job, result: ProofResult) -> None:
        verified = bool(model.checker.verify(result.proof).verified)
        proof_text = Path(result.proof.path).read_text()
        changed = self.store.proved(
            job.id,
            outputs=result.outputs,
            proof=proof_text,
            verified=verified,
            witness_seconds=result.witness_seconds,
            prove_seconds=result.prove_seconds,
        )
        if not changed:
            log.info("job %s is no longer this replica's to record (already recorded, or its lease expired); result dropped", job.id)
            return
        self.metrics.proof_done(job.model, result.prove_seconds, created=job.created, started=job.started)
        if not verified:
            self.metrics.failure("NotVerified")
        if job.publish and verified:
            self.on_proved()

    def _failed(self, job: Job, exc: BaseException) -> None:
        kind = type(exc).__name__
        log.warning("job %s failed: %s", job.id, exc)
        self.store.fail(job.id, "proving", str(exc), kind)
        self.metrics.failure(kind)


class LeaseHeartbeat(threading.Thread):
    """Every ``interval_s``: extend this replica's leases, then take back the jobs whose lease expired elsewhere.

    Args:
        store: the job store (its owner is this replica).
        interval_s: seconds between beats (well under the store's lease, so a few may be missed).
        on_requeued: called when expired jobs went back to the queue (wakes the dispatcher).
    """

    def __init__(self, store: JobStore, interval_s: float, on_requeued: Callable[[], None] = lambda: None) -> None:
        super().__init__(name="zkml-serve-heartbeat", daemon=True)
        self.store = store
        self.interval_s = interval_s
        self.on_requeued = on_requeued
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            self.beat()

    def beat(self) -> None:
        """One heartbeat and one expiry pass (a failure is logged; the next beat retries)."""
        try:
            self.store.heartbeat()
            taken = self.store.expire_leases()
        except Exception:  # a database hiccup must not end the heartbeat: the lease outlives a few missed beats
            log.exception("lease heartbeat failed")
            return
        if taken:
            log.warning("took back %d jobs whose replica's lease expired", taken)
            self.on_requeued()


def wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes (bounded); whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()
