"""Publishes proved jobs to the oracle exactly once, across crashes.

The rule: the transaction hash is committed to the store *before* the
transaction is sent (with a local signing key the hash is known once the
transaction is signed; ``zkml.evm.rpc.send_transaction`` calls back with it
before sending). On every start, a job still ``publishing`` with a hash is
resolved from the chain first:

- the receipt exists: the job is recorded from it, nothing is sent;
- the node still knows the transaction (mempool): wait for its receipt;
- the node never saw it (the crash came between recording and sending): it is
  sent now, and only now.

With a node-held (unlocked) account the hash exists only once the node accepted
the transaction, so a crash in that instant could leave no hash; the oracle's
replay guard (keyed on model and epoch, or input commitment) still refuses a
second publication, and the publisher then records the stored prediction.
Set ``ZKML_PRIVATE_KEY`` (or a keystore) for the strict guarantee.

Across replicas: a publisher works only on the publishing jobs it holds the
lease of (:meth:`JobStore.claim_publishing`): the ones its replica proved, and
those whose replica died (lease expired). The hash is recorded only while the
lease is held, and nothing is sent when it is not; a replica that took a job over
finds the previous holder's hash and resolves it from the chain as above. (A
holder frozen between recording and sending past its lease could still send
after the new holder did: the oracle's replay guard then reverts the second.)

Folded groups (:class:`zkml.serve.folding.EpochFolder`: B jobs, one proof, one transaction): the same
rule for the group as a whole. The hash is recorded on every job of the group in one store
transaction before sending; after a crash the group is resolved from that one hash (mined: all
recorded from the receipt; never seen: sent once, now); the results are recorded in one store
transaction, each job its own epoch's prediction and the shared hash. An epoch the oracle skipped
(already published by someone else) is recorded with ``"replayed": true``.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import ReplayError, RpcUnreachableError, ZkmlError
from zkml.serve.metrics import ServeMetrics
from zkml.serve.models import OracleBinding, ServedModel
from zkml.serve.store import Job, JobStore

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from zkml.evm.rpc import Connection
    from zkml.oracle.client import Publication
    from zkml.oracle.compile import OracleContracts

log = logging.getLogger(__name__)

# Fault injection for the crash tests (a kill -9 cannot otherwise be aimed at these instants):
# ZKML_SERVE_FAULT=after_tx_recorded kills the server after the hash is stored and before the send;
# ZKML_SERVE_FAULT=after_receipt kills it after the transaction is mined and before the job is recorded.
FAULT_ENV = "ZKML_SERVE_FAULT"


def naming_epoch(epoch: int | None, message: str) -> str:
    """``message``, prefixed with its epoch unless it already names it (None: a job without an epoch, unchanged).

    An attested job's failure must say which epoch failed, whichever layer raised it (the CLI's
    messages come from :mod:`zkml.oracle.reverts`, which names it for the epoch reverts).
    """
    if epoch is None or re.search(rf"\bepoch {epoch}\b", message):
        return message
    return f"epoch {epoch}: {message}"


def stored_prediction(publication: Publication) -> dict[str, Any]:
    """What a published job records: the newest prediction, and with a batch every prediction it stored, in batch order."""
    data = publication.prediction.as_dict()
    if len(publication.batch) > 1:
        data["batch"] = [p.as_dict() for p in publication.batch]
    return data


class LeaseLostError(ZkmlError):
    """This replica no longer holds the job's publishing lease (raised before sending, so nothing is sent)."""


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault injection: killing the server at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


class Publisher(threading.Thread):
    """Sends each proved job that asked to publish to its model's oracle.

    Args:
        store: the job store.
        models: the served models by name (their :class:`OracleBinding` says where).
        metrics: the service's metrics.
        proofs_dir: where proof files are written for reading back.
        groups: models whose publishing jobs are folded into one-feed batches (:class:`zkml.serve.folding.EpochFolder`),
            with their batch registration's binding: a group is sent, resolved and recorded as one (:meth:`publish_group`).
    """

    def __init__(
        self,
        store: JobStore,
        models: Mapping[str, ServedModel],
        metrics: ServeMetrics,
        proofs_dir: Path,
        groups: Mapping[str, OracleBinding] | None = None,
    ) -> None:
        super().__init__(name="zkml-serve-publisher", daemon=True)
        self.groups = dict(groups or {})  # models whose publishing jobs are folded: their batch registration's binding
        self.store = store
        self.models = models
        self.metrics = metrics
        self.proofs_dir = Path(proofs_dir)
        self.proofs_dir.mkdir(parents=True, exist_ok=True)
        self.wake = threading.Event()
        self._halt = threading.Event()
        self._conns: dict[str, Connection] = {}
        self._contracts: OracleContracts | None = None
        self._multi_feed: dict[str, bool] = {}  # by model name, read from the registration once

    def stop(self) -> None:
        self._halt.set()
        self.wake.set()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                jobs = self.store.claim_publishing()
            except Exception:  # a database hiccup: the next pass retries
                log.exception("claiming publishing jobs failed")
                jobs = []
            for job in jobs:
                if self._halt.is_set():
                    break
                self.publish_job(job)
            self.wake.wait(0.5)
            self.wake.clear()

    def publish_job(self, job: Job) -> None:
        """Publish one job (or resolve its recorded transaction); failures fail the job, never the loop."""
        if job.batch_id is not None and job.model in self.groups:
            self.publish_group(job.batch_id, self.groups[job.model])
            return
        model = self.models.get(job.model)
        try:
            if model is None or model.binding is None:
                raise ZkmlError(f"model {job.model!r} has no oracle to publish to", hint="serve it with --oracle (and --feed)")
            self._publish(job, model.binding)
        except RpcUnreachableError as exc:
            # The chain is away, not the job at fault: it stays publishing and the next pass retries it.
            log.warning("publishing job %s: %s; retrying", job.id, naming_epoch(job.epoch, str(exc)))
            self.metrics.failure(type(exc).__name__)
            self._halt.wait(2.0)
        except ZkmlError as exc:
            why = naming_epoch(job.epoch, str(exc))
            log.warning("publishing job %s failed: %s", job.id, why)
            self.store.fail(job.id, "publishing", why, type(exc).__name__)
            self.metrics.failure(type(exc).__name__)

    def publish_group(self, batch_id: str, binding: OracleBinding) -> None:
        """Publish a folded group in one transaction (or resolve the one it recorded); a failure fails the whole group.

        The group moves as one: its hash is recorded on every job in one store transaction before sending, and
        its results in one store transaction after the receipt, so after any crash it is all published or all
        still publishing (with or without the hash), never split.
        """
        group = self.store.claim_group(batch_id)
        if not any(j.state == "publishing" for j in group):
            return  # an earlier pass recorded it
        if any(j.state != "publishing" or j.owner != self.store.owner for j in group):
            # Never split by this store; another replica holds part of it until its lease expires.
            log.info("group %s is partly held by another replica; left to it", batch_id)
            return
        epochs = [int(j.epoch or 0) for j in group]
        try:
            self._publish_group(group, binding, epochs)
        except RpcUnreachableError as exc:
            log.warning("publishing epochs %s: %s; retrying", epochs, exc)
            self.metrics.failure(type(exc).__name__)
            self._halt.wait(2.0)
        except ZkmlError as exc:
            why = f"epochs {epochs} (one batched publication): {exc}"
            log.warning("publishing group %s failed: %s", batch_id, why)
            self.store.fail_group([j.id for j in group], why, type(exc).__name__)
            self.metrics.failure(type(exc).__name__)

    def _publish_group(self, group: list[Job], binding: OracleBinding, epochs: list[int]) -> None:
        from zkml.evm.rpc import get_receipt, succeeded, transaction_known, wait_for_receipt
        from zkml.oracle.client import publication_from_receipt

        conn = self._conn(binding)
        tx_hash = group[0].tx_hash  # recorded on every job of the group at once
        if tx_hash:
            receipt = get_receipt(conn, tx_hash)
            if receipt is None and transaction_known(conn, tx_hash):
                receipt = wait_for_receipt(conn, tx_hash)
            if receipt is not None:
                if not succeeded(receipt):
                    raise ZkmlError(f"the publication {tx_hash} was mined but reverted", hint="see the jobs' proof and the oracle's rules")
                log.info("epochs %s: recorded transaction %s was mined; recording it, not sending again", epochs, tx_hash)
                publication = publication_from_receipt(conn, binding.oracle, binding.model_id, receipt, contracts=self._oracle_contracts())
                self._record_group(group, publication, tx_hash)
                return
            log.info("epochs %s: recorded transaction %s never reached the node; sending it now", epochs, tx_hash)
        self._send_group(group, binding, conn, epochs)

    def _send_group(self, group: list[Job], binding: OracleBinding, conn: Connection, epochs: list[int]) -> None:
        from zkml.oracle.client import publish

        ids = [j.id for j in group]
        proof_path = self.proofs_dir / f"{group[0].batch_id}.proof.json"
        proof_path.write_text(group[0].proof or "")
        lost: list[str] = []

        def on_sent(tx_hash: str) -> None:
            if not self.store.record_group_tx(ids, tx_hash):
                lost.append(tx_hash)
                raise LeaseLostError(f"the group of epochs {epochs} is no longer this replica's to publish")
            _fault("after_tx_recorded")

        try:
            publication = publish(
                conn, binding.oracle, binding.model_id, proof_path, epochs=epochs, on_replay="read",
                contracts=self._oracle_contracts(), on_sent=on_sent,
            )  # fmt: skip
        except ZkmlError:
            if lost:
                log.warning("epochs %s: lease lost before sending; left to the replica that holds them", epochs)
                return
            raise
        _fault("after_receipt")
        self._record_group(group, publication, publication.tx_hash or group[0].tx_hash)

    def _record_group(self, group: list[Job], publication: Publication, tx_hash: str | None) -> None:
        """Each job its own epoch's prediction; an epoch the oracle skipped (already published) is recorded as replayed."""
        stored = {p.epoch: p for p in (publication.batch or (publication.prediction,))}
        predictions: dict[str, dict[str, Any]] = {}
        for job in group:
            found = stored.get(int(job.epoch or 0))
            if publication.replayed or found is None:
                predictions[job.id] = {**(found.as_dict() if found else {"epoch": job.epoch}), "replayed": True}
            else:
                predictions[job.id] = found.as_dict()
        if self.store.published_group(predictions, tx_hash=tx_hash, gas_used=publication.gas_used):
            self.metrics.published.labels(group[0].model).inc(len(group))
            log.info("published epochs %s in one transaction %s", [j.epoch for j in group], tx_hash)

    def _oracle_contracts(self) -> OracleContracts:
        from zkml.oracle.compile import compile_contracts

        if self._contracts is None:
            self._contracts = compile_contracts()
        return self._contracts

    def _conn(self, binding: OracleBinding) -> Connection:
        from zkml.evm.rpc import connect

        self._oracle_contracts()
        if binding.rpc_url not in self._conns:
            self._conns[binding.rpc_url] = connect(binding.rpc_url)
        return self._conns[binding.rpc_url]

    def _publish(self, job: Job, binding: OracleBinding) -> None:
        from zkml.evm.rpc import get_receipt, transaction_known, wait_for_receipt

        conn = self._conn(binding)
        if job.tx_hash:
            receipt = get_receipt(conn, job.tx_hash)
            if receipt is None and transaction_known(conn, job.tx_hash):
                receipt = wait_for_receipt(conn, job.tx_hash)
            if receipt is not None:
                log.info("job %s: recorded transaction %s was mined; recording it, not sending again", job.id, job.tx_hash)
                self._record(job, binding, conn, receipt)
                return
            log.info("job %s: recorded transaction %s never reached the node; sending it now", job.id, job.tx_hash)
        self._send(job, binding, conn)

    def _send(self, job: Job, binding: OracleBinding, conn: Connection) -> None:
        """Publish through :func:`zkml.oracle.client.publish` (the one publish path), recording the hash before sending."""
        from zkml.oracle.client import publish

        proof_path = self.proofs_dir / f"{job.id}.proof.json"
        proof_path.write_text(job.proof or "")
        lost: list[str] = []

        def on_sent(tx_hash: str) -> None:
            if not self.store.record_tx(job.id, tx_hash):
                # Another replica took the job over (this one's lease expired): it must not be sent from here.
                lost.append(tx_hash)
                raise LeaseLostError(f"job {job.id} is no longer this replica's to publish")
            _fault("after_tx_recorded")

        epochs = self._job_epochs(job, binding, conn)
        try:
            # on_replay="read": someone (another service, the CLI) already published it; the stored one is recorded.
            publication = publish(
                conn, binding.oracle, binding.model_id, proof_path, epochs=epochs, on_replay="read",
                contracts=self._oracle_contracts(), on_sent=on_sent,
            )  # fmt: skip
        except ReplayError as exc:  # a multi-feed batch someone else published (one-feed replays are read by publish)
            publication = self._published_feeds(job, binding, conn, exc)
        except ZkmlError:
            if lost:  # raised by on_sent (wrapped by the RPC layer): nothing was sent, nothing to record
                log.warning("job %s: lease lost before sending; left to the replica that holds it", job.id)
                return
            raise
        _fault("after_receipt")
        if publication.replayed:
            log.info("job %s: its prediction was already on chain; recording the stored one", job.id)
        prediction = {**stored_prediction(publication), **({"replayed": True} if publication.replayed else {})}
        if self.store.published(job.id, tx_hash=publication.tx_hash or job.tx_hash, gas_used=publication.gas_used, prediction=prediction):
            self.metrics.published.labels(job.model).inc()

    def _published_feeds(self, job: Job, binding: OracleBinding, conn: Connection, exc: ReplayError) -> Publication:
        """A multi-feed batch whose every sample was already published: each feed's stored prediction at the job's epoch.

        Raises:
            ReplayError: ``exc``, when the model is not multi-feed or a feed's newest prediction is another epoch's.
        """
        from zkml.oracle.client import Publication
        from zkml.oracle.multi_feed import read_feed_prediction

        model = self.models.get(job.model)
        if not self._multi_feed.get(job.model) or model is None:
            raise exc
        size = model.spec.batch_size
        batch = tuple(
            read_feed_prediction(conn, binding.oracle, binding.model_id, index=k, contracts=self._oracle_contracts())[0]
            for k in range(size)
        )
        if any(p.epoch != job.epoch for p in batch):
            raise exc
        return Publication(batch[-1], None, None, replayed=True, batch=batch)

    def _job_epochs(self, job: Job, binding: OracleBinding, conn: Connection) -> list[int] | None:
        """Each sample's epoch: a job's epoch is its first (or only) one.

        A batch-B model registered over B feeds takes all B samples at the job's epoch; one
        registered over one feed takes B consecutive epochs from it (as the keeper queues them).
        """
        if job.epoch is None:
            return None
        model = self.models.get(job.model)
        size = model.spec.batch_size if model is not None else 1
        if size == 1:
            return [int(job.epoch)]
        if job.model not in self._multi_feed:
            from zkml.oracle.multi_feed import feeds_of

            self._multi_feed[job.model] = bool(feeds_of(conn, binding.oracle, binding.model_id, contracts=self._oracle_contracts()))
        if self._multi_feed[job.model]:
            return [int(job.epoch)] * size
        return list(range(int(job.epoch), int(job.epoch) + size))

    def _record(self, job: Job, binding: OracleBinding, conn: Connection, receipt: TxReceipt) -> None:
        # Resuming a recorded transaction: its receipt is decoded exactly as client.publish decodes a fresh one.
        from zkml.evm.rpc import succeeded
        from zkml.oracle.client import publication_from_receipt

        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        if not succeeded(receipt):
            what = "the publication" if job.epoch is None else f"the publication of epoch {job.epoch}"
            raise ZkmlError(f"{what} {tx_hash} was mined but reverted", hint="see the job's proof and the oracle's rules")
        publication = publication_from_receipt(conn, binding.oracle, binding.model_id, receipt, contracts=self._contracts)
        if self.store.published(job.id, tx_hash=tx_hash, gas_used=publication.gas_used, prediction=stored_prediction(publication)):
            self.metrics.published.labels(job.model).inc()
