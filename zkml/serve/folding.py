"""Folding: jobs of one model queued together are proved as one batched proof.

With ``batch_size`` B > 1, a model also gets a batch-B circuit
(:func:`zkml.proving.batch.build_batched`: the batch-1 graph unrolled B times, so
proof, keys and verifier keep their batch-1 sizes) and a backend for it. Queued
jobs that do not publish wait until B of them are there, or until the oldest has
waited ``max_wait_s``; then up to B are claimed, their samples written into one
batched input (a short batch is filled by repeating its own samples) and proved
once. Each job gets its own slice of the outputs and shares the proof
(``batch_size``, ``batch_index`` say where it sits). (A keeper over a batch-registered
model served on its batch circuit queues one job per batch itself: K feeds at one epoch, or
``batch_epochs`` consecutive epochs of one feed; :mod:`zkml.serve.keeper`.)

Publishing jobs (one epoch each) of a model served with folding and an oracle binding registered
as a one-feed batch of B (:class:`EpochFolder`) are folded B at a time on the REGISTERED batch-B workspace
(its vk is the one the oracle verifies with), one sample per job, and published in one
transaction (:mod:`zkml.serve.publisher`). The oracle takes a one-feed batch only at B strictly
increasing epochs (not necessarily consecutive), and every sample's input must be its feed's
window at its epoch: a short batch cannot be padded (a repeated epoch is refused, and a padding
sample would be published as a real epoch). So only full groups of B distinct epochs are folded;
a job left over (fewer than B distinct epochs queued) waits for more, and a job asking an epoch
already in another queued job waits for a later group (where the oracle skips the sample as
already published and the job is recorded as replayed).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.errors import ConfigError
from zkml.serve.backends import Backend
from zkml.serve.metrics import ServeMetrics
from zkml.serve.models import ServedModel
from zkml.serve.store import Job, JobStore

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from zkml.proving.warm import ProofResult, ProverSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldingConfig:
    """Folding settings: ``batch_size`` 1 turns it off."""

    batch_size: int = 1
    max_wait_s: float = 0.5


def build_folded_spec(model: ServedModel, batch_size: int, root: Path) -> ProverSpec:
    """The model's batch-``batch_size`` prover spec, built (or reused) under ``root``, with its tuned settings."""
    from zkml.proving.batch import build_batched
    from zkml.tune.pinned import apply_tuned

    if model.config is None:
        raise ConfigError(f"model {model.name} has no circuit config to build a batched circuit from")
    # The tuned scales and layout carry over; logrows must grow with the batch, so calibration picks them.
    config = apply_tuned(model.config, model.root)
    config = config.with_circuit(logrows=None)
    return build_batched(config, batch_size, root, device=model.spec.device.used).spec


def is_shutdown(exc: BaseException) -> bool:
    """The executor refused work because it (or the interpreter) is shutting down."""
    return isinstance(exc, RuntimeError) and "shutdown" in str(exc)


class Folder:
    """Folds one model's non-publishing jobs into batched proofs."""

    def __init__(self, model: ServedModel, spec: ProverSpec, backend: Backend, inputs_dir: Path, config: FoldingConfig) -> None:
        from zkml.proving.warm import WarmProver

        self.model = model
        self.spec = spec
        self.backend = backend
        self.config = config
        self.inputs_dir = Path(inputs_dir)
        self.inputs_dir.mkdir(parents=True, exist_ok=True)
        self.checker = WarmProver(spec, self.inputs_dir)

    def ready(self, store: JobStore) -> bool:
        """A full batch per worker is queued, or the oldest queued job has waited long enough."""
        count, oldest = store.queued_stats(self.model.name, publish=False)
        if count == 0 or oldest is None:
            return False
        return count >= self.config.batch_size * self.backend.workers or time.time() - oldest >= self.config.max_wait_s

    def step(self, store: JobStore, metrics: ServeMetrics, halted: Callable[[], bool] = lambda: False) -> bool:
        """Prove one round of batches if ready; True when it proved something.

        The jobs are claimed with the store's lease (as the dispatcher's are); a service that is
        stopping (``halted``) gives back what it could not prove instead of failing it.
        """
        if not self.ready(store):
            return False
        jobs = store.claim(self.model.name, self.config.batch_size * self.backend.workers, publish=False)
        if not jobs:
            return False
        size = self.config.batch_size
        groups = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        paths = [self._batch_input(group) for group in groups]
        try:
            results = self.backend.prove_many(paths)
        except Exception as exc:
            for job in jobs:
                if halted() or is_shutdown(exc):
                    store.requeue(job.id)
                    continue
                store.fail(job.id, "proving", f"the batched proof failed: {exc}", type(exc).__name__)
                metrics.failure(type(exc).__name__)
            return True
        for group, result in zip(groups, results, strict=True):
            self._record(store, metrics, group, result)
        return True

    def _batch_input(self, group: list[Job]) -> Path:
        """One batched input file holding each job's sample, in order (a short batch repeats its samples)."""
        from zkml.data import Samples, read_samples
        from zkml.proving.batch import write_batch_input

        arrays: list[list[npt.NDArray[np.float64]]] = [[] for _ in self.model.spec.inputs]
        for job in group:
            path = self.inputs_dir / f"{job.id}.json"
            path.write_text(job.input_json)
            for slot, array in enumerate(read_samples(path, self.model.spec.inputs).arrays):
                arrays[slot].append(array)
        import numpy as np

        samples = Samples(tuple(np.concatenate(parts) for parts in arrays))
        return write_batch_input(samples, self.config.batch_size, self.inputs_dir / f"batch-{uuid.uuid4().hex}.json")

    def _record(self, store: JobStore, metrics: ServeMetrics, group: list[Job], result: ProofResult) -> None:
        verified = bool(self.checker.verify(result.proof).verified)
        proof_text = Path(result.proof.path).read_text()
        width = len(result.outputs) // self.config.batch_size
        for index, job in enumerate(group):
            store.proved(
                job.id,
                outputs=result.outputs[index * width : (index + 1) * width],
                proof=proof_text,
                verified=verified,
                witness_seconds=result.witness_seconds,
                prove_seconds=result.prove_seconds,
                batch=(len(group), index),
            )
        metrics.proof_done(self.model.name, result.prove_seconds)
        for job in group:
            metrics.job_seconds.labels(self.model.name).observe(max(time.time() - job.created, 0.0))
            if job.started is not None:
                metrics.queue_wait.labels(self.model.name).observe(max(job.started - job.created, 0.0))
        if not verified:
            metrics.failure("NotVerified")
        log.info("folded %d jobs of %s into one proof", len(group), self.model.name)


class EpochFolder(Folder):
    """Folds one model's publishing jobs, B distinct epochs at a time, into proofs on the registered batch-B workspace.

    ``spec`` is that workspace's prover spec (batch size B); ``model`` the batch-1 model the jobs were checked
    against (its input specs read each job's sample).
    """

    def ready(self, store: JobStore) -> bool:
        count, _ = store.queued_stats(self.model.name, publish=True)
        return count > 0  # B distinct epochs or not is the claim's to say; epoch-less jobs are refused meanwhile

    def step(self, store: JobStore, metrics: ServeMetrics, halted: Callable[[], bool] = lambda: False) -> bool:
        """Prove one full group of B distinct epochs if there is one; True when it proved something."""
        if not self.ready(store):
            return False
        group = store.claim_epoch_group(self.model.name, self.config.batch_size)
        if not group:
            self._refuse_epochless(store, metrics)
            return False
        try:
            (result,) = self.backend.prove_many([self._batch_input(group)])
        except Exception as exc:
            for job in group:
                if halted() or is_shutdown(exc):
                    store.requeue(job.id)
                    continue
                store.fail(job.id, "proving", f"the batched proof of epochs {[j.epoch for j in group]} failed: {exc}", type(exc).__name__)
                metrics.failure(type(exc).__name__)
            return True
        self._record_group(store, metrics, group, result)
        return True

    def _record_group(self, store: JobStore, metrics: ServeMetrics, group: list[Job], result: ProofResult) -> None:
        # One store transaction for the group: a crash never leaves part of it publishing and part queued.
        verified = bool(self.checker.verify(result.proof).verified)
        width = len(result.outputs) // self.config.batch_size
        outputs = {job.id: result.outputs[i * width : (i + 1) * width] for i, job in enumerate(group)}
        seconds = (result.witness_seconds, result.prove_seconds)
        if not store.proved_group(outputs, Path(result.proof.path).read_text(), verified, seconds):
            log.info("the group of epochs %s is no longer this replica's to record; result dropped", [j.epoch for j in group])
            return
        metrics.proof_done(self.model.name, result.prove_seconds)
        if not verified:
            metrics.failure("NotVerified")
        log.info("folded epochs %s of %s into one proof", [j.epoch for j in group], self.model.name)

    def _refuse_epochless(self, store: JobStore, metrics: ServeMetrics) -> None:
        """Fail queued publishing jobs without an epoch: a one-feed batch registration publishes only at epochs."""
        for job in store.list_jobs(state="queued", model=self.model.name, limit=10_000):  # bounded by the queue limit
            if job.publish and job.epoch is None:
                why = "this model publishes batches of epochs of one feed: a publishing job needs its epoch"
                if store.fail(job.id, "queued", why, "InputDataError"):
                    metrics.failure("InputDataError")
