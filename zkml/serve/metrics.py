"""Prometheus metrics of one service: queue depth, proofs per second, prove seconds, failures by kind.

Each service has its own registry (two services in one process, as in the
tests, must not share counters). Queue depth and the recent proof rate are
read when scraped; ``zkml_serve_proofs_total`` is there for ``rate()`` too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# Proofs finished in the last RATE_WINDOW seconds give the proofs-per-second gauge.
RATE_WINDOW = 60.0


class ServeMetrics:
    """The service's metrics, in a private registry.

    Args:
        queue_depth: called on each scrape; the number of jobs queued or proving.
    """

    def __init__(self, queue_depth: Callable[[], int]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        depth = Gauge("zkml_serve_queue_depth", "Jobs queued or being proved", registry=self.registry)
        depth.set_function(lambda: float(queue_depth()))
        rate = Gauge(
            "zkml_serve_proofs_per_second", f"Proofs finished per second over the last {RATE_WINDOW:.0f} s", registry=self.registry
        )
        rate.set_function(self.proofs_per_second)
        self.proofs = Counter("zkml_serve_proofs", "Proofs finished", ["model"], registry=self.registry)
        self.prove_seconds = Histogram(
            "zkml_serve_prove_seconds",
            "Seconds ezkl spent proving one job",
            ["model"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.failures = Counter("zkml_serve_failures", "Failed jobs and refused requests, by kind", ["kind"], registry=self.registry)
        self.published = Counter("zkml_serve_publications", "Predictions published to the oracle", ["model"], registry=self.registry)

    def proof_done(self, model: str, prove_seconds: float) -> None:
        """Count a finished proof."""
        self.proofs.labels(model).inc()
        self.prove_seconds.labels(model).observe(prove_seconds)
        with self._lock:
            self._recent.append(time.monotonic())

    def failure(self, kind: str) -> None:
        """Count a failure of ``kind`` (an exception name, or ``queue_full``, ``unauthorized``, ``invalid_input``...)."""
        self.failures.labels(kind).inc()

    def proofs_per_second(self) -> float:
        """Proofs finished per second over the last :data:`RATE_WINDOW` seconds."""
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0] < now - RATE_WINDOW:
                self._recent.popleft()
            return len(self._recent) / RATE_WINDOW

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
