"""A local process pool of warm provers that survives the death of a worker.

:class:`ProverPool` spreads proofs over worker *processes*: zkml serialises
ezkl calls within one process (they redirect the process-wide fd 1 under a
lock), so threads would prove one at a time whatever ezkl does with the GIL.
A worker that dies (OOM-killed, segfault) breaks the pool; the pool is then
rebuilt and the unfinished jobs are submitted again, up to ``max_restarts``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.errors import ConfigError, ProofError
from zkml.proving.warm import BeforeProve, Progress, ProofResult, ProverSpec, WarmProver, unique_names

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

# The worker process's prover, made once by the pool's initializer.
_WORKER: WarmProver | None = None


def _init_worker(spec: ProverSpec, out_dir: Path, before_prove: BeforeProve | None) -> None:
    global _WORKER
    # The parent configured logging; a spawned child starts bare, so keep its warnings visible.
    logging.basicConfig(level=logging.WARNING)
    _WORKER = WarmProver(spec, out_dir, before_prove=before_prove)


def _pool_job(index: int, input_path: Path, name: str, attempt: int) -> ProofResult:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise ProofError("prover worker was not initialised")
    return _WORKER.prove(input_path, index=index, name=name, attempt=attempt)


class ProverPool:
    """Proves inputs on ``workers`` processes, each holding a :class:`~zkml.proving.warm.WarmProver`.

    Workers are *spawned* (not forked): the parent may already run ezkl's
    thread pool, and forking a multi-threaded process can deadlock the child.
    Each worker pays the ezkl import and the artifact check once. As with any
    spawned multiprocessing, a script using the pool needs an
    ``if __name__ == "__main__":`` guard (the ``zkml`` console script has one).

    Example:
        >>> with ProverPool(spec, Path("proofs"), workers=2) as pool:
        ...     results = pool.prove_many(inputs)
    """

    def __init__(
        self,
        spec: ProverSpec,
        out_dir: Path,
        *,
        workers: int = 2,
        max_restarts: int = 3,
        before_prove: BeforeProve | None = None,
    ) -> None:
        """Check the spec in the parent (fail fast, before any worker starts).

        Raises:
            ConfigError: ``workers`` < 1.
            KeysError: the keys belong to another circuit or SRS.
        """
        from zkml.keys import check_keys_match

        if workers < 1:
            raise ConfigError(f"workers = {workers}; need at least 1")
        check_keys_match(spec.keys, spec.circuit, spec.srs)
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.workers = workers
        self.max_restarts = max_restarts
        self.before_prove = before_prove
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None

    def _start(self) -> ProcessPoolExecutor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.spec, self.out_dir, self.before_prove),
        )

    def __enter__(self) -> ProverPool:
        self._executor = self._executor or self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def prove_many(self, inputs: Sequence[Path], *, progress: Progress | None = None) -> list[ProofResult]:
        """Prove every input; results in input order.

        Raises:
            ProofError: workers died more than ``max_restarts`` times.
            ZkmlError: a job failed on its own (bad input, proving error); not retried.
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        names = unique_names(inputs)
        attempts = [0] * len(inputs)
        results: dict[int, ProofResult] = {}
        pending = list(range(len(inputs)))
        while pending:
            broken = self._run_round(inputs, names, pending, attempts, results, progress)
            pending = [i for i in range(len(inputs)) if i not in results]
            if broken:
                self._restart(len(pending), len(inputs), never_started=not results)
        return [results[i] for i in range(len(inputs))]

    def _run_round(
        self,
        inputs: Sequence[Path],
        names: list[str],
        pending: list[int],
        attempts: list[int],
        results: dict[int, ProofResult],
        progress: Progress | None,
    ) -> bool:
        """Submit the pending jobs and gather into ``results`` what finishes; True when a worker died."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        if self._executor is None:
            self._executor = self._start()
        futures = {}
        for index in pending:
            attempts[index] += 1
            futures[self._executor.submit(_pool_job, index, Path(inputs[index]), names[index], attempts[index])] = index
        broken = False
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    results[futures[future]] = future.result()
                except BrokenProcessPool:
                    # Every job still running in the broken pool fails too; they are all resubmitted.
                    broken = True
                    continue
                if progress is not None:
                    progress(len(results), len(inputs))
        return broken

    def _restart(self, unfinished: int, total: int, *, never_started: bool) -> None:
        """Drop the broken pool (the next round starts a new one), or give up after ``max_restarts``."""
        if self._executor is not None:  # always set here: a round has just run on it
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None
        self.restarts += 1
        log.warning("a prover worker died; restarting the pool for %d unfinished jobs (restart %d)", unfinished, self.restarts)
        if self.restarts > self.max_restarts:
            raise ProofError(
                f"prover workers died {self.restarts} times; {unfinished} of {total} inputs unproved",
                hint=(
                    "workers could not start: see the error above (a script that uses ProverPool must guard its "
                    "entry point with `if __name__ == '__main__':`)"
                    if never_started
                    else "check memory (each worker holds the proving key); use fewer --workers"
                ),
            )
