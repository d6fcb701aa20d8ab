"""Where the service's proofs are made: warm provers in a process pool, or a Ray cluster.

Both reuse zkml's provers unchanged (:class:`zkml.proving.pool.ProverPool`,
:class:`zkml.proving.ray_cluster.RayProver`); a backend only keeps one alive
for the life of the service, so keys and circuit are loaded once per worker.
Even one worker is a separate process: ezkl holds the GIL while proving, and
an in-process proof would freeze the HTTP server for its whole duration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from zkml.proving.warm import ProofResult, ProverSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendConfig:
    """How to prove.

    Attributes:
        workers: prover processes per model (or CPUs of a local Ray). Joining a Ray cluster, the cluster's
            CPUs decide instead: the service claims as many jobs at a time as the cluster can prove at once.
        ray_address: ``local`` to start a local Ray, an address to join a cluster (``ray start --head`` plus
            worker nodes), None for the process pool.
    """

    workers: int = 1
    ray_address: str | None = None

    @property
    def kind(self) -> str:
        return "ray" if self.ray_address else "pool"


class Backend(Protocol):
    """Proves groups of input files for one model; results in input order."""

    workers: int

    def prove_many(self, inputs: Sequence[Path]) -> list[ProofResult]: ...

    def close(self) -> None: ...


class PoolBackend:
    """A :class:`~zkml.proving.pool.ProverPool` kept open (its worker processes stay warm)."""

    def __init__(self, spec: ProverSpec, out_dir: Path, workers: int) -> None:
        from zkml.proving.pool import ProverPool

        self.workers = workers
        self._pool = ProverPool(spec, out_dir, workers=workers).__enter__()

    def prove_many(self, inputs: Sequence[Path]) -> list[ProofResult]:
        return self._pool.prove_many(list(inputs))

    def close(self) -> None:
        self._pool.close()


class RayBackend:
    """A :class:`~zkml.proving.ray_cluster.RayProver` kept connected (artifacts shipped to the object store once).

    On a cluster, ``workers`` is the cluster's proving slots, read again after each group of jobs so that
    nodes joining or leaving change how many jobs are claimed at once.
    """

    def __init__(self, spec: ProverSpec, out_dir: Path, workers: int, address: str) -> None:
        from zkml.proving.ray_cluster import RayProver

        self._cluster = address != "local"
        self._prover = RayProver(spec, out_dir, address=address if self._cluster else None, num_workers=workers).__enter__()
        self.workers = self._prover.slots if self._cluster else workers
        log.info("proving on Ray %s with %d slot(s)", address, self.workers)

    @property
    def split(self) -> dict[str, int]:
        """Proofs made per Ray node since the service started."""
        return dict(self._prover.split)

    def prove_many(self, inputs: Sequence[Path]) -> list[ProofResult]:
        results = self._prover.prove_many(list(inputs))
        if self._cluster:
            self.workers = self._prover.slots
        return results

    def close(self) -> None:
        self._prover.close()


def make_backend(spec: ProverSpec, out_dir: Path, config: BackendConfig) -> Backend:
    """The backend ``config`` asks for, started.

    Raises:
        RayUnavailableError: Ray was asked for and cannot be used.
    """
    if config.ray_address:
        return RayBackend(spec, out_dir, config.workers, config.ray_address)
    return PoolBackend(spec, out_dir, config.workers)
