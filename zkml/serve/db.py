"""Database connections for the job store: SQLite (WAL) by default, PostgreSQL by URL, and the schema migrations.

The store writes SQL once, with ``?`` placeholders; :class:`Database` rewrites
them for PostgreSQL (``%s``). Each thread keeps its own connection (SQLite
connections must not cross threads; reconnecting to PostgreSQL per query would
cost milliseconds per job). Every statement runs in autocommit mode unless it
is inside :meth:`Database.transaction`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import ConfigError

if TYPE_CHECKING:
    import sqlite3

    import psycopg
    from psycopg.rows import TupleRow

    # One thread's connection: the standard library's SQLite, or psycopg's PostgreSQL.
    DbConnection = sqlite3.Connection | psycopg.Connection[TupleRow]

log = logging.getLogger(__name__)

# Each migration is a list of statements, applied in order; version N is MIGRATIONS[N - 1].
# Add new migrations at the end; never edit one that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, "
        "scopes TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, model TEXT NOT NULL, state TEXT NOT NULL, input_json TEXT NOT NULL, "
        "publish INTEGER NOT NULL DEFAULT 0, epoch BIGINT, token_id TEXT, idem_key TEXT, request_hash TEXT, "
        "attempts INTEGER NOT NULL DEFAULT 0, created DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION, "
        "proved DOUBLE PRECISION, finished DOUBLE PRECISION, witness_seconds DOUBLE PRECISION, prove_seconds DOUBLE PRECISION, "
        "outputs TEXT, proof TEXT, verified INTEGER, tx_hash TEXT, gas_used BIGINT, prediction TEXT, "
        "error TEXT, error_kind TEXT)",
        # Idempotency keys are namespaced by their caller in the store, so one global unique index serves.
        "CREATE UNIQUE INDEX jobs_idem ON jobs (idem_key)",
        "CREATE INDEX jobs_state ON jobs (state, created)",
        "CREATE TABLE job_events (job_id TEXT NOT NULL, kind TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, detail TEXT)",
        "CREATE INDEX job_events_job ON job_events (job_id)",
    ),
    (
        # Folded jobs share one batched proof: how many jobs it proved, and this job's place in it.
        "ALTER TABLE jobs ADD COLUMN batch_size INTEGER",
        "ALTER TABLE jobs ADD COLUMN batch_index INTEGER",
    ),
    (
        # Leases: the replica that claimed a job (proving or publishing) and until when (the database's clock) it holds it.
        "ALTER TABLE jobs ADD COLUMN owner TEXT",
        "ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION",
        "CREATE INDEX jobs_lease ON jobs (state, lease_until)",
        # The lease counters of /metrics count events by kind on every scrape.
        "CREATE INDEX job_events_kind ON job_events (kind)",
    ),
    (
        # Folded publication: the jobs proved in one batched proof and published in one transaction share this id.
        "ALTER TABLE jobs ADD COLUMN batch_id TEXT",
        "CREATE INDEX jobs_batch ON jobs (batch_id)",
    ),
)


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases, as far as the store cares."""

    name: str
    placeholder: str
    # Appended to the claim's inner SELECT: concurrent claimers skip each other's rows (PostgreSQL).
    skip_locked: str
    # The database's clock in epoch seconds: leases are set and compared on one clock, whatever the replicas' clocks say.
    now: str


SQLITE = Dialect("sqlite", "?", "", "((julianday('now') - 2440587.5) * 86400.0)")
POSTGRES = Dialect("postgresql", "%s", " FOR UPDATE SKIP LOCKED", "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)")
# The advisory lock replicas take while migrating (any constant; it only has to be the same in every replica).
_MIGRATION_LOCK = 0x7A6B6D6C


def is_postgres_url(url: str) -> bool:
    """Whether a store URL names a PostgreSQL server (anything else is a SQLite file path)."""
    return url.startswith(("postgresql://", "postgres://"))


class Database:
    """A connection factory (one connection per thread) with the store's dialect.

    Args:
        url: a SQLite file path (``sqlite:///path`` or a bare path) or a ``postgresql://`` URL.

    Raises:
        ConfigError: the database cannot be opened (the message says which and why).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = POSTGRES if is_postgres_url(url) else SQLITE
        self._local = threading.local()
        self._all: list[DbConnection] = []
        self._lock = threading.Lock()
        self.connection()  # fail now, not on the first request

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (SQLite URLs only)."""
        return Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))

    def _open(self) -> DbConnection:
        if self.dialect is POSTGRES:
            try:
                import psycopg
            except ImportError as exc:
                raise ConfigError("a PostgreSQL store needs psycopg", hint="pip install 'zkml[serve]'") from exc
            try:
                return psycopg.connect(self.url, autocommit=True)
            except psycopg.Error as exc:
                raise ConfigError(
                    f"cannot connect to the PostgreSQL store: {exc}".strip(), hint="check the URL and that the server runs"
                ) from exc
        import sqlite3

        path = self.sqlite_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            # WAL: readers never block the writer; synchronous=FULL: a committed job survives power loss, not just kill -9.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the SQLite store {path}: {exc}", hint="give a writable --db path") from exc
        return conn

    def connection(self) -> DbConnection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def sql(self, statement: str) -> str:
        """``statement`` with this dialect's placeholders."""
        return statement if self.dialect is SQLITE else statement.replace("?", "%s")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (empty for none)."""
        cur = self.connection().execute(self.sql(statement), tuple(params))
        rows = cur.fetchall() if cur.description else []
        return [tuple(r) for r in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``, so two writers never deadlock on upgrade)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE" if self.dialect is SQLITE else "BEGIN")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def migrate(self) -> int:
        """Apply the migrations this database lacks; returns its schema version.

        Replicas starting together on one PostgreSQL take turns (an advisory lock): even
        ``CREATE TABLE IF NOT EXISTS`` fails in one of two sessions that run it at once.
        """
        if self.dialect is POSTGRES:
            self.execute("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
        try:
            self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            with self.transaction():
                rows = self.execute("SELECT MAX(version) FROM schema_version")
                current = int(rows[0][0] or 0)
                for version in range(current + 1, len(MIGRATIONS) + 1):
                    for statement in MIGRATIONS[version - 1]:
                        self.execute(statement)
                    self.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                    log.info("job store migrated to schema version %d", version)
        finally:
            if self.dialect is POSTGRES:
                self.execute("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))
        return len(MIGRATIONS)

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:  # closing is best effort at shutdown
                    log.debug("closing a store connection failed", exc_info=True)
            self._all.clear()
        self._local = threading.local()
