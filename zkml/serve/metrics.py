"""Prometheus metrics of one service: jobs by state, queue depth, proof rate, latencies, HTTP requests, failures by kind, leases.

Each service has its own registry (two services in one process, as in the
tests, must not share counters). Queue depth, jobs by state and the lease
counters (expiries, requeues) are read from the store when scraped, so they
survive a restart and every replica of one store reports the same store-wide
numbers; ``zkml_serve_proofs_total`` is there for ``rate()`` too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.core import Metric

# Proofs finished in the last RATE_WINDOW seconds give the proofs-per-second gauge.
RATE_WINDOW = 60.0


LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

# Store events counted as counters: (event kind, metric name, help).
LEASE_COUNTERS = (
    ("lease_expired", "zkml_serve_lease_expiries", "Leases that expired with their replica (store-wide, all time)"),
    ("requeued", "zkml_serve_requeues", "Jobs put back in the queue: expired leases and drained replicas (store-wide, all time)"),
)


class _JobStates:
    """``zkml_serve_jobs{state}``: the store's count of jobs in each state, read on each scrape."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("zkml_serve_jobs", "Jobs in the store, by state", labels=["state"])
        for state, count in self.counts().items():
            family.add_metric([state], float(count))
        yield family


class _StoreCounters:
    """Counters kept by the store as events (:data:`LEASE_COUNTERS`), counted on each scrape."""

    def __init__(self, event_counts: Callable[[Sequence[str]], dict[str, int]]) -> None:
        self.event_counts = event_counts

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        counts = self.event_counts([kind for kind, _, _ in LEASE_COUNTERS])
        for kind, name, text in LEASE_COUNTERS:
            yield CounterMetricFamily(name, text, value=float(counts.get(kind, 0)))


class ServeMetrics:
    """The service's metrics, in a private registry.

    Args:
        queue_depth: called on each scrape; the number of jobs queued or proving.
        job_counts: called on each scrape; jobs by state (None: not exported).
        event_counts: called on each scrape with event kinds; how many the store logged (None: no lease counters).
    """

    def __init__(
        self,
        queue_depth: Callable[[], int],
        job_counts: Callable[[], dict[str, int]] | None = None,
        event_counts: Callable[[Sequence[str]], dict[str, int]] | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        if job_counts is not None:
            self.registry.register(_JobStates(job_counts))  # type: ignore[arg-type]
        if event_counts is not None:
            self.registry.register(_StoreCounters(event_counts))  # type: ignore[arg-type]
        self.queue_wait = Histogram(
            "zkml_serve_queue_wait_seconds", "Seconds a job waited from accepted to proving", ["model"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.job_seconds = Histogram(
            "zkml_serve_job_seconds", "Seconds from a job accepted to its proof recorded (end to end)", ["model"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.http_requests = Counter(
            "zkml_serve_http_requests", "HTTP requests, by route, method and status", ["route", "method", "status"], registry=self.registry
        )
        self.http_seconds = Histogram(
            "zkml_serve_http_request_seconds", "Seconds to answer an HTTP request, by route", ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )  # fmt: skip
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

    def proof_done(self, model: str, prove_seconds: float, *, created: float | None = None, started: float | None = None) -> None:
        """Count a finished proof; with the job's ``created``/``started`` times (epoch seconds) also its latencies."""
        self.proofs.labels(model).inc()
        self.prove_seconds.labels(model).observe(prove_seconds)
        if created is not None:
            self.job_seconds.labels(model).observe(max(time.time() - created, 0.0))
            if started is not None:
                self.queue_wait.labels(model).observe(max(started - created, 0.0))
        with self._lock:
            self._recent.append(time.monotonic())

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count an answered HTTP request (``route`` is the route's template, not the raw path)."""
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_seconds.labels(route).observe(seconds)

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
