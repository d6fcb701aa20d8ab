"""One entry point over the proving backends: in-process, a local process pool, or Ray.

This module sits above the others: it imports :mod:`~zkml.proving.warm`,
:mod:`~zkml.proving.pool` and :mod:`~zkml.proving.ray_cluster` (Ray lazily, as
an optional dependency), and none of them imports it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from zkml.proving.warm import Progress, ProofResult, ProverSpec, WarmProver


def prove_inputs(
    spec: ProverSpec,
    inputs: Iterable[Path],
    out_dir: Path,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    progress: Progress | None = None,
) -> list[ProofResult]:
    """Prove many inputs with the right backend: in-process, a process pool, or Ray.

    Args:
        spec: what to prove with (:meth:`ProverSpec.from_pipeline`).
        inputs: input files, one proof each.
        out_dir: where witnesses and proofs go.
        workers: processes (pool) or CPUs of a local Ray (default for Ray: every core).
        ray_address: a Ray cluster to use (``auto`` for the one on this machine); implies Ray.
        use_ray: use Ray; with no address a local Ray is started for the duration.
        progress: called with (done, total).

    Returns:
        One result per input, in input order.

    Raises:
        RayUnavailableError: Ray was asked for and cannot be used.
        ZkmlError: the backend's own failures (bad input, keys, proving).
    """
    paths = [Path(p) for p in inputs]
    if use_ray or ray_address:
        from zkml.proving.ray_cluster import RayProver

        # --ray without --workers: a local Ray gets every core rather than one.
        with RayProver(spec, out_dir, address=ray_address, num_workers=workers if workers > 1 else None) as ray_prover:
            return ray_prover.prove_many(paths, progress=progress)
    if workers > 1:
        from zkml.proving.pool import ProverPool

        with ProverPool(spec, out_dir, workers=workers) as pool:
            return pool.prove_many(paths, progress=progress)
    return WarmProver(spec, out_dir).prove_many(paths, progress=progress)
