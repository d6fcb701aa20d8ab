"""zkml.proving.ray_cluster on a local Ray: same proofs as a serial run, in order; a killed worker's job is retried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Reference, check_same_as_serial
from .faults import KillOnce


def test_worker_cache_is_explicit_else_the_env_else_the_zkml_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from zkml.proving.ray_cluster import RAY_CACHE_ENV, worker_cache_dir
    from zkml.workspace import cache_dir

    monkeypatch.delenv(RAY_CACHE_ENV, raising=False)
    assert worker_cache_dir() == cache_dir() / "ray-artifacts"
    monkeypatch.setenv(RAY_CACHE_ENV, str(tmp_path / "env"))
    assert worker_cache_dir() == tmp_path / "env"
    assert worker_cache_dir(str(tmp_path / "given")) == tmp_path / "given"


def test_a_cached_artifact_is_not_fetched_again(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from zkml.proving.ray_cluster import ShippedArtifact, materialise

    # Cache files appear only by rename after a hash check, so presence alone is trusted: no object store needed.
    (tmp_path / "abc.key").write_bytes(b"cached")
    assert materialise(ShippedArtifact("pk", "abc", ".key", (None,)), tmp_path) == tmp_path / "abc.key"


def test_ray_returns_the_serial_proofs_in_order_and_caches_artifacts_by_hash(
    local_ray: Any, tiny_spec: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    from zkml.proving.ray_cluster import RayProver

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
    from zkml.proving.ray_cluster import RayProver

    hook = KillOnce(tmp_path / "faults", target=1)
    with RayProver(tiny_spec, tmp_path / "out", worker_cache=str(tmp_path / "cache"), before_prove=hook) as prover:
        results = prover.prove_many(tiny_inputs)
    assert (tmp_path / "faults" / "killed").exists()
    assert hook.calls(1) == 2  # started, killed with its worker, run again
    check_same_as_serial(results, serial, tiny_spec)
