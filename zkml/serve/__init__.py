"""``zkml serve``: a proving service for keepers and apps.

An HTTP API (tokens with scopes, the CLI's input checks, idempotency keys, a
bounded queue) over a durable job store (SQLite by default, PostgreSQL by URL);
workers that prove on warm provers in a process pool or on Ray; a publisher
that sends each verified prediction to the oracle exactly once; a keeper that
turns each new feed round into a job; a live page and Prometheus metrics.

Modules: :mod:`~zkml.serve.db` (connections, dialects, migrations),
:mod:`~zkml.serve.store` (jobs), :mod:`~zkml.serve.tokens`,
:mod:`~zkml.serve.models` (workspaces served), :mod:`~zkml.serve.backends`,
:mod:`~zkml.serve.worker`, :mod:`~zkml.serve.publisher`,
:mod:`~zkml.serve.keeper`, :mod:`~zkml.serve.metrics`, :mod:`~zkml.serve.app`
and :mod:`~zkml.serve.service` (which wires them).
"""
