"""zkml.proving.pool: the local process pool, with real ezkl proofs of the tiny circuit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import public_instances
from zkml.errors import ConfigError, KeysError
from zkml.proving.pool import ProverPool

from .conftest import Reference, check_same_as_serial
from .faults import KillOnce


def test_bad_pools_are_refused_before_any_worker_starts(tiny_spec: Any, tmp_path: Path) -> None:
    wrong = replace(tiny_spec, keys=replace(tiny_spec.keys, circuit_sha256="0" * 64))
    with pytest.raises(KeysError, match="another circuit"):
        ProverPool(wrong, tmp_path)
    with pytest.raises(ConfigError, match="workers = 0"):
        ProverPool(tiny_spec, tmp_path, workers=0)


def test_pool_returns_the_serial_proofs_in_order_and_retries_a_killed_worker(
    tiny_spec: Any, tiny_inputs: list[Path], serial: Reference, tmp_path: Path
) -> None:
    hook = KillOnce(tmp_path / "faults", target=1)
    seen: list[tuple[int, int]] = []
    with ProverPool(tiny_spec, tmp_path / "out", workers=2, before_prove=hook) as pool:
        results = pool.prove_many(tiny_inputs, progress=lambda done, total: seen.append((done, total)))
        assert pool.restarts == 1
    check_same_as_serial(results, serial, tiny_spec)
    assert (tmp_path / "faults" / "killed").exists()
    assert hook.calls(1) == 2
    assert results[1].attempt == 2
    assert len({r.worker for r in results}) >= 2  # the retried job ran in a new process
    assert public_instances(results[1].proof) == serial.instances[1]
    assert seen[-1] == (3, 3)
