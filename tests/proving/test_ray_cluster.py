"""The Ray backend on a local Ray: same proofs as a serial run, in order; a killed worker's job is retried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Reference, check_same_as_serial
from .faults import KillOnce

pytest.importorskip("ray")


def test_ray_returns_the_serial_proofs_in_order_and_caches_artifacts_by_hash(
    local_ray: Any, tiny_spec: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    from zkml.distributed import RayProver

    cache = tmp_path / "worker-cache"
    with RayProver(tiny_spec, tmp_path / "out", worker_cache=str(cache)) as prover:
        results = prover.prove_many(tiny_inputs)
        assert not prover._started_here  # the session's Ray was reused, not restarted
    check_same_as_serial(results, serial, tiny_spec)
    cached = {p.name for p in cache.iterdir() if p.is_file()}
    for digest in (tiny_spec.keys.pk_sha256, tiny_spec.srs.sha256, tiny_spec.circuit.sha256):
        assert any(name.startswith(digest) for name in cached)
    assert all((tmp_path / "out" / f"{p.stem}.proof.json").is_file() for p in tiny_inputs)


def test_ray_retries_the_job_of_a_killed_worker(
    local_ray: Any, tiny_spec: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    from zkml.distributed import RayProver

    hook = KillOnce(tmp_path / "faults", target=1)
    with RayProver(tiny_spec, tmp_path / "out", worker_cache=str(tmp_path / "cache"), before_prove=hook) as prover:
        results = prover.prove_many(tiny_inputs)
    assert (tmp_path / "faults" / "killed").exists()
    assert hook.calls(1) == 2  # started, killed with its worker, run again
    check_same_as_serial(results, serial, tiny_spec)
