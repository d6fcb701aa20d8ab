"""The durable job store: every state change of a proof job is one committed write.

A job moves ``queued -> proving -> done`` (or ``failed``), or, when it asks to publish, ``proving ->
publishing -> done``; ``cancelled`` from ``queued``. Each move is a conditional UPDATE (``WHERE state =
<expected>``), so a move that lost a race, or that a restart already undid, changes nothing.

Leases (many replicas on one store): a ``proving`` or ``publishing`` job is held by one replica, its
``owner``, until ``lease_until`` (the database's clock). The owner heartbeats its leases; any replica puts
a job whose lease expired back in the queue, or frees it for another publisher. The rule that makes this
safe: **a move out of ``proving`` or ``publishing`` changes the job only while the caller is its owner**.
After a kill -9: a queued job stays queued; a ``proving`` one goes back to the queue once its lease
expires (at once on SQLite, whose file lock proves its only service is gone); a ``publishing`` one keeps
the transaction hash recorded before sending, checked first by whoever takes it over
(:mod:`zkml.serve.publisher`). A folded group (``batch_id``) moves as one: its hash and its results are
each recorded on all its jobs in one transaction.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

from zkml.errors import IdempotencyConflictError
from zkml.serve.db import Database

STATES = ("queued", "proving", "publishing", "done", "failed", "cancelled")
ACTIVE = ("queued", "proving", "publishing")
_COLUMNS = (
    "id, model, state, input_json, publish, epoch, token_id, idem_key, request_hash, attempts, created, started, proved, "
    "finished, witness_seconds, prove_seconds, outputs, proof, verified, tx_hash, gas_used, prediction, error, error_kind, "
    "batch_size, batch_index, owner, lease_until, batch_id"
)
# What the API shows of a job (in this order); outputs and prediction are parsed from their JSON.
_API_FIELDS = (
    "id", "model", "state", "publish", "epoch", "attempts", "created", "started", "proved", "finished", "witness_seconds",
    "prove_seconds", "outputs", "verified", "tx_hash", "gas_used", "prediction", "error", "error_kind", "batch_size", "batch_index",
)  # fmt: skip
# A lease outlives a few missed heartbeats (a busy database, a GC pause) but not a dead replica by long.
DEFAULT_LEASE_S = 30.0
# A third of the default lease: two beats may be missed before another replica takes over.
DEFAULT_HEARTBEAT_S = 10.0
# Event kinds /metrics counts (from the store, so the counts survive restarts).
LEASE_EXPIRED = "lease_expired"
REQUEUED = "requeued"


def replica_id() -> str:
    """A new id for one replica (service) of the store: host, pid and a random part, readable in events and logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Job:
    """One proof job as stored (see the module docstring for its states)."""

    id: str
    model: str
    state: str
    input_json: str
    publish: bool
    epoch: int | None
    token_id: str | None
    idem_key: str | None
    request_hash: str | None
    attempts: int
    created: float
    started: float | None
    proved: float | None
    finished: float | None
    witness_seconds: float | None
    prove_seconds: float | None
    outputs: str | None
    proof: str | None
    verified: bool | None
    tx_hash: str | None
    gas_used: int | None
    prediction: str | None
    error: str | None
    error_kind: str | None
    batch_size: int | None = None
    batch_index: int | None = None
    owner: str | None = None
    lease_until: float | None = None
    batch_id: str | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Job:
        values = dict(zip((f.name for f in fields(cls)), row, strict=True))
        values["publish"] = bool(values["publish"])
        values["verified"] = None if values["verified"] is None else bool(values["verified"])
        return cls(**values)

    def as_dict(self, *, with_proof: bool = False) -> dict[str, Any]:
        """Plain-JSON form for the API (the proof itself only on request: it is kilobytes)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _API_FIELDS}
        data["outputs"] = json.loads(self.outputs) if self.outputs else None
        data["prediction"] = json.loads(self.prediction) if self.prediction else None
        if with_proof:
            data["proof"] = json.loads(self.proof) if self.proof else None
        return data


class JobStore:
    """Jobs and tokens in a :class:`~zkml.serve.db.Database` (migrated on open).

    Args:
        url: a SQLite path or a ``postgresql://`` URL.
        owner: the replica id this store claims jobs as (default: a new :func:`replica_id`); ``lease_s``: how long a claim holds.
    """

    def __init__(self, url: str, *, owner: str | None = None, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.db = Database(url)
        self.db.migrate()
        self.owner = owner or replica_id()
        self.lease_s = lease_s

    def close(self) -> None:
        """Close the store's connections."""
        self.db.close()

    def _event(self, job_id: str, kind: str, detail: str | None = None) -> None:
        self.db.execute("INSERT INTO job_events (job_id, kind, at, detail) VALUES (?, ?, ?, ?)", (job_id, kind, time.time(), detail))

    # -- submitting

    def submit(
        self,
        model: str,
        input_json: str,
        *,
        publish: bool = False,
        epoch: int | None = None,
        token_id: str | None = None,
        idem_key: str | None = None,
        request_hash: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job, or return the job an idempotency key already made.

        Returns:
            The job and whether it was created now (False: the key's earlier job).

        Raises:
            IdempotencyConflictError: the key was used for a different request.
        """
        job_id = uuid.uuid4().hex
        try:
            with self.db.transaction():
                existing = self._by_key(idem_key) if idem_key is not None else None
                if existing is None:
                    self.db.execute(
                        "INSERT INTO jobs (id, model, state, input_json, publish, epoch, token_id, idem_key, request_hash, created) "
                        "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                        (job_id, model, input_json, int(publish), epoch, token_id, idem_key, request_hash, time.time()),
                    )
                    self._event(job_id, "queued")
        except Exception as exc:
            # Two submitters of one key at once (PostgreSQL lets both read "absent"): the unique index decides.
            if idem_key is None or "unique" not in str(exc).lower():
                raise
            existing = self._by_key(idem_key)
            if existing is None:
                raise
        if existing is not None:
            if request_hash is not None and existing.request_hash not in (None, request_hash):
                raise IdempotencyConflictError(
                    "this Idempotency-Key was used for a different request", hint="use a new key for a new request"
                )
            return existing, False
        job = self.get(job_id)
        assert job is not None
        return job, True

    def _by_key(self, idem_key: str) -> Job | None:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE idem_key = ?", (idem_key,))
        return Job.from_row(rows[0]) if rows else None

    def by_key(self, idem_key: str) -> Job | None:
        """The job an idempotency key made, if any."""
        return self._by_key(idem_key)

    # -- reading

    def get(self, job_id: str) -> Job | None:
        """A job by id, or None."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(rows[0]) if rows else None

    def list_jobs(self, *, state: str | None = None, model: str | None = None, limit: int = 50) -> list[Job]:
        """The newest jobs first, optionally of one state and model."""
        given = {k: v for k, v in (("state", state), ("model", model)) if v}
        where, params = [f"{k} = ?" for k in given], list(given.values())
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs{clause} ORDER BY created DESC, id LIMIT ?", (*params, int(limit)))
        return [Job.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        rows = self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        found = {str(s): int(n) for s, n in rows}
        return {s: found.get(s, 0) for s in STATES}

    def depth(self) -> int:
        """Jobs waiting or being proved (what the queue bound counts)."""
        rows = self.db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'proving')")
        return int(rows[0][0])

    def events(self, job_id: str | None = None) -> list[tuple[str, str, float, str | None]]:
        """The state-change log, oldest first: (job id, kind, time, detail)."""
        where, params = ("", ()) if job_id is None else (" WHERE job_id = ?", (job_id,))
        rows = self.db.execute(f"SELECT job_id, kind, at, detail FROM job_events{where} ORDER BY at", params)
        return [(str(a), str(b), float(c), d) for a, b, c, d in rows]

    # -- moving jobs

    def claim(self, model: str, limit: int, *, publish: bool | None = None) -> list[Job]:
        """Lease up to ``limit`` of the oldest queued jobs of ``model`` (only those that publish, or not): now ``proving``, ours.

        On PostgreSQL concurrent claimers skip each other's rows (``FOR UPDATE SKIP LOCKED``); on SQLite
        the write transaction serialises them. Either way a queued job goes to one claimer.
        """
        now = time.time()
        only = "" if publish is None else f" AND publish = {int(publish)}"
        with self.db.transaction():
            rows = self.db.execute(
                f"SELECT id FROM jobs WHERE state = 'queued' AND model = ?{only} ORDER BY created, id LIMIT ?{self.db.dialect.skip_locked}",
                (model, int(limit)),
            )
            ids = [str(r[0]) for r in rows]
            self._lease_queued(ids, now, None)
        return [job for job in (self.get(i) for i in ids) if job is not None]

    def _lease_queued(self, ids: Sequence[str], now: float, batch_id: str | None) -> None:
        for job_id in ids:
            self.db.execute(
                "UPDATE jobs SET state = 'proving', attempts = attempts + 1, started = ?, owner = ?, batch_id = ?, "
                f"lease_until = {self.db.dialect.now} + ? WHERE id = ?",
                (now, self.owner, batch_id, self.lease_s, job_id),
            )
            self._event(job_id, "proving", self.owner)

    def queued_stats(self, model: str, *, publish: bool) -> tuple[int, float | None]:
        """How many jobs of ``model`` (publishing or not) are queued, and when the oldest was queued."""
        rows = self.db.execute(
            "SELECT COUNT(*), MIN(created) FROM jobs WHERE state = 'queued' AND model = ? AND publish = ?", (model, int(publish))
        )
        count, oldest = rows[0]
        return int(count), None if oldest is None else float(oldest)

    def queued_models(self) -> list[str]:
        """Models that have queued jobs, the one waiting longest first."""
        rows = self.db.execute("SELECT model, MIN(created) AS t FROM jobs WHERE state = 'queued' GROUP BY model ORDER BY t")
        return [str(r[0]) for r in rows]

    def _move(self, job_id: str, expected: str, state: str, event: str, **values: object) -> bool:
        """Move a job from ``expected`` to ``state``; out of a leased state only while this store's owner holds it."""
        sets = ", ".join([*(f"{k} = ?" for k in values), "state = ?"])
        held = " AND owner = ?" if expected in ("proving", "publishing") else ""
        params = (*values.values(), state, job_id, expected, *((self.owner,) if held else ()))
        with self.db.transaction():
            rows = self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ? AND state = ?{held} RETURNING id", params)
            if rows:
                self._event(job_id, event, cast("str | None", values.get("error")))
        return bool(rows)

    def proved(
        self,
        job_id: str,
        *,
        outputs: Sequence[float],
        proof: str,
        verified: bool,
        witness_seconds: float,
        prove_seconds: float,
        batch: tuple[int, int] | None = None,
    ) -> bool:
        """Record a finished proof: the job is done, or moves on to ``publishing`` when it asked to publish.

        ``batch``: (jobs in the batched proof, this job's index) for a folded job. False when the job was no longer
        ``proving`` under this store's lease (already recorded, or its lease expired): nothing changed.
        """
        job = self.get(job_id)
        if job is None:
            return False
        values = {
            "outputs": json.dumps(list(outputs)),
            "proof": proof,
            "verified": int(verified),
            "witness_seconds": witness_seconds,
            "prove_seconds": prove_seconds,
            "proved": time.time(),
        }
        if batch is not None:
            values["batch_size"], values["batch_index"] = batch
        if job.publish and verified:
            # The lease carries over to publishing: this replica's publisher sends it next.
            return self._move(job_id, "proving", "publishing", "proved", **values)
        return self._move(job_id, "proving", "done", "done", finished=values["proved"], lease_until=None, **values)

    def fail(self, job_id: str, expected: str, error: str, kind: str) -> bool:
        """Mark a job failed (from ``expected``; from a leased state only while this store holds it), with the error and its kind."""
        return self._move(job_id, expected, "failed", "failed", finished=time.time(), error=error, error_kind=kind, lease_until=None)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job; False when it is no longer queued."""
        return self._move(job_id, "queued", "cancelled", "cancelled", finished=time.time())

    def record_tx(self, job_id: str, tx_hash: str) -> bool:
        """Record the publication's transaction hash before it is sent; False: this store lost the lease (send nothing)."""
        return self.record_group_tx([job_id], tx_hash)

    def published(self, job_id: str, *, tx_hash: str | None, gas_used: int | None, prediction: dict[str, Any]) -> bool:
        """Record a mined publication; the job is done (only while this store holds its publishing lease)."""
        return self.published_group({job_id: prediction}, tx_hash=tx_hash, gas_used=gas_used)

    def requeue(self, job_id: str) -> bool:
        """Put a job this store was proving back in the queue (its prover stopped, not the job's fault)."""
        return self._move(job_id, "proving", "queued", REQUEUED, owner=None, lease_until=None)

    # -- folded publication: one batched proof, one transaction, a group of jobs (see zkml.serve.folding)

    def claim_epoch_group(self, model: str, size: int) -> list[Job]:
        """Lease queued publishing jobs of ``model`` at its ``size`` oldest distinct epochs, increasing (the oracle's rule
        for a one-feed batch), as one group (a new ``batch_id``), or none; a second job at one epoch waits for a later group."""
        now, group = time.time(), uuid.uuid4().hex
        with self.db.transaction():
            rows = self.db.execute(
                "SELECT id, epoch FROM jobs WHERE state = 'queued' AND model = ? AND publish = 1 AND epoch IS NOT NULL "
                f"ORDER BY epoch, created, id{self.db.dialect.skip_locked}",
                (model,),
            )
            firsts = {int(epoch): str(job_id) for job_id, epoch in reversed(rows)}  # reversed: the oldest job per epoch wins
            ids = [firsts[e] for e in sorted(firsts)][:size]
            if len(ids) < size:
                return []
            self._lease_queued(ids, now, group)
        return [job for job in (self.get(i) for i in ids) if job is not None]

    def claim_group(self, batch_id: str) -> list[Job]:
        """Lease every publishing job of a folded group that no live replica holds; the whole group, in batch order."""
        with self.db.transaction():
            self.db.execute(
                f"UPDATE jobs SET owner = ?, lease_until = {self.db.dialect.now} + ? "
                "WHERE batch_id = ? AND state = 'publishing' AND (owner = ? OR owner IS NULL)",
                (self.owner, self.lease_s, batch_id, self.owner),
            )
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE batch_id = ? ORDER BY batch_index, id", (batch_id,))
        return [Job.from_row(r) for r in rows]

    def _group_move(self, job_ids: Sequence[str], event: str, sets: str, values: Callable[[str], Sequence[object]],
                    detail: str | None = None, expected: str = "publishing") -> bool:  # fmt: skip
        """One UPDATE on every job of a group (``expected``, held by this store) in one transaction: all move, or none."""
        try:
            with self.db.transaction():
                for job_id in job_ids:
                    sql = f"UPDATE jobs SET {sets} WHERE id = ? AND state = ? AND owner = ? RETURNING id"
                    if not self.db.execute(sql, (*values(job_id), job_id, expected, self.owner)):
                        raise LookupError(job_id)  # rolls the group back
                    self._event(job_id, event, detail)
        except LookupError:
            return False
        return True

    def proved_group(self, outputs: Mapping[str, Sequence[float]], proof: str, verified: bool, seconds: tuple[float, float]) -> bool:
        """Record a folded publishing group's one proof (each job its outputs, in batch order) at once: all ``publishing``
        (``done`` unverified), or none. ``seconds``: (witness, prove)."""
        ids, now, state = list(outputs), time.time(), "publishing" if verified else "done"
        sets = (
            "state = ?, outputs = ?, proof = ?, verified = ?, witness_seconds = ?, prove_seconds = ?, proved = ?, finished = ?, "
            "batch_size = ?, batch_index = ?, lease_until = CASE WHEN ? = 1 THEN lease_until END"
        )
        done = None if verified else now

        def row(i: str) -> tuple[object, ...]:
            return (state, json.dumps(list(outputs[i])), proof, int(verified), *seconds, now, done, len(ids), ids.index(i), int(verified))

        return self._group_move(ids, "proved" if verified else "done", sets, row, expected="proving")

    def record_group_tx(self, job_ids: Sequence[str], tx_hash: str) -> bool:
        """Record a group's transaction hash on all its jobs at once, before sending; False: a lease was lost (send nothing)."""
        return self._group_move(job_ids, "tx", "tx_hash = ?", lambda _: (tx_hash,), tx_hash)

    def published_group(self, predictions: Mapping[str, dict[str, Any]], *, tx_hash: str | None, gas_used: int | None) -> bool:
        """Record a group's mined publication: each job done with its own prediction and the shared hash, all or none."""
        sets, now = "state = 'done', finished = ?, tx_hash = ?, gas_used = ?, prediction = ?, lease_until = NULL", time.time()
        return self._group_move(list(predictions), "done", sets, lambda i: (now, tx_hash, gas_used, json.dumps(predictions[i])))

    def fail_group(self, job_ids: Sequence[str], error: str, kind: str) -> bool:
        """Fail every job of a group at once (their shared transaction reverted, or could not be made)."""
        sets, now = "state = 'failed', finished = ?, error = ?, error_kind = ?, lease_until = NULL", time.time()
        return self._group_move(job_ids, "failed", sets, lambda _: (now, error, kind))

    # -- tokens and the keeper's mark (the store owns every SQL statement of the service)

    def insert_token(self, token_id: str, name: str, token_hash: str, scopes: str) -> None:
        """Store a token (its hash only)."""
        self.db.execute(
            "INSERT INTO tokens (id, name, token_hash, scopes, created) VALUES (?, ?, ?, ?, ?)",
            (token_id, name, token_hash, scopes, time.time()),
        )

    def live_token(self, token_hash: str) -> tuple[str, str, str] | None:
        """(id, name, scopes) of the unrevoked token with this hash, or None."""
        rows = self.db.execute("SELECT id, name, scopes FROM tokens WHERE token_hash = ? AND revoked = 0", (token_hash,))
        return (str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None

    def token_rows(self) -> list[tuple[str, str, str, float, bool]]:
        """(id, name, scopes, created, revoked) of every token, oldest first."""
        rows = self.db.execute("SELECT id, name, scopes, created, revoked FROM tokens ORDER BY created, id")
        return [(str(i), str(n), str(s), float(c), bool(r)) for i, n, s, c, r in rows]

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token by id; False when there is none."""
        return bool(self.db.execute("UPDATE tokens SET revoked = 1 WHERE id = ? RETURNING id", (token_id,)))

    def last_keyed_epoch(self, model: str, key_prefix: str) -> int | None:
        """The newest epoch of ``model``'s jobs whose idempotency key starts with ``key_prefix`` (the keeper's mark)."""
        rows = self.db.execute("SELECT MAX(epoch) FROM jobs WHERE model = ? AND idem_key LIKE ?", (model, f"{key_prefix}%"))
        return None if rows[0][0] is None else int(rows[0][0])

    def publishing(self) -> list[Job]:
        """Jobs that are proved and wait to be published (or whose publication must be checked), whoever holds them."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state = 'publishing' ORDER BY proved, id")
        return [Job.from_row(r) for r in rows]

    # -- leases

    def claim_publishing(self, limit: int = 16) -> list[Job]:
        """Lease the publishing jobs this store may send now: its own, and those no replica holds (expired, released).

        One replica publishes a job at a time; one taking it over finds the hash recorded before sending, and checks it first.
        """
        with self.db.transaction():
            rows = self.db.execute(
                "SELECT id, owner FROM jobs WHERE state = 'publishing' AND (owner = ? OR owner IS NULL) "
                f"ORDER BY proved, id LIMIT ?{self.db.dialect.skip_locked}",
                (self.owner, int(limit)),
            )
            for job_id, owner in rows:
                self.db.execute(
                    f"UPDATE jobs SET owner = ?, lease_until = {self.db.dialect.now} + ? WHERE id = ?", (self.owner, self.lease_s, job_id)
                )
                if owner is None:
                    self._event(str(job_id), "publishing", self.owner)
        return [job for job in (self.get(str(r[0])) for r in rows) if job is not None]

    def heartbeat(self) -> int:
        """Extend the lease of every job this store holds (proving or publishing); how many."""
        rows = self.db.execute(
            f"UPDATE jobs SET lease_until = {self.db.dialect.now} + ? WHERE owner = ? AND state IN ('proving', 'publishing') RETURNING id",
            (self.lease_s, self.owner),
        )
        return len(rows)

    def expire_leases(self, *, everyone: bool = False) -> int:
        """Take back the jobs whose lease expired: ``proving`` ones go back to the queue, ``publishing`` ones are freed.

        Every replica calls this periodically and at start; a live lease is never touched. ``everyone``: every
        leased job, expired or not, only for a caller that knows no other service uses the store (SQLite, whose
        file lock it holds). Returns how many were taken back (each a ``lease_expired`` event naming the old owner).
        """
        expired = "" if everyone else f" AND (lease_until IS NULL OR lease_until < {self.db.dialect.now})"
        with self.db.transaction():
            rows = self.db.execute(
                "SELECT id, state, owner FROM jobs WHERE (state = 'proving' OR (state = 'publishing' AND owner IS NOT NULL))"
                f"{expired}{self.db.dialect.skip_locked}"
            )
            for job_id, state, owner in rows:
                if state == "proving":
                    self.db.execute("UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL WHERE id = ?", (job_id,))
                else:
                    self.db.execute("UPDATE jobs SET owner = NULL, lease_until = NULL WHERE id = ?", (job_id,))
                self._event(str(job_id), LEASE_EXPIRED, None if owner is None else str(owner))
                if state == "proving":
                    self._event(str(job_id), REQUEUED, "its lease expired")
        return len(rows)

    def release_leases(self) -> int:
        """Give back every job this store holds (a draining replica): proving ones to the queue, publishing ones freed."""
        with self.db.transaction():
            rows = self.db.execute(
                "UPDATE jobs SET state = CASE WHEN state = 'proving' THEN 'queued' ELSE state END, owner = NULL, lease_until = NULL "
                "WHERE owner = ? AND state IN ('proving', 'publishing') RETURNING id, state",
                (self.owner,),
            )
            for job_id, state in rows:
                self._event(str(job_id), REQUEUED if state == "queued" else "released", "released at shutdown")
        return len(rows)

    def count_events(self, kinds: Sequence[str]) -> dict[str, int]:
        """How many events of each kind the store ever logged (what restarts cannot reset)."""
        marks = ", ".join("?" for _ in kinds)
        rows = self.db.execute(f"SELECT kind, COUNT(*) FROM job_events WHERE kind IN ({marks}) GROUP BY kind", tuple(kinds))
        found = {str(k): int(n) for k, n in rows}
        return {kind: found.get(kind, 0) for kind in kinds}
