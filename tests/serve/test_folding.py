"""Folding: queued jobs of one model proved together as one batched proof (a batch-2 circuit built here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import jittered_inputs, make_service
from zkml.serve.worker import wait_for


@pytest.mark.slow
def test_jobs_queued_together_share_one_batched_proof(served: Any, tmp_path: Path) -> None:
    from zkml.circuit import generate_witness
    from zkml.serve.folding import FoldingConfig

    service = make_service(served, tmp_path, folding=FoldingConfig(batch_size=2, max_wait_s=3.0)).start()
    try:
        inputs = jittered_inputs(3)
        store = service.store
        # Two at once fill a batch; the third waits max_wait_s, then goes alone in a padded batch.
        jobs = [store.submit(served.name, json.dumps(x))[0] for x in inputs]
        service.wake()
        assert wait_for(lambda: all(store.get(j.id).state == "done" for j in jobs), timeout=600)  # type: ignore[union-attr]
        done = [store.get(j.id) for j in jobs]
    finally:
        service.stop()
    first, second, third = done
    assert first and second and third
    assert all(j.verified for j in done)  # type: ignore[union-attr]
    assert (first.batch_size, first.batch_index, second.batch_size, second.batch_index) == (2, 0, 2, 1)
    assert first.proof == second.proof and third.proof != first.proof
    assert (third.batch_size, third.batch_index) == (1, 0)
    # Each job's slice of the batched outputs is what the batch-1 circuit computes on its input.
    for job, payload in zip(done, inputs, strict=True):
        path = tmp_path / f"{job.id}.json"  # type: ignore[union-attr]
        path.write_text(json.dumps(payload))
        alone = generate_witness(served.spec.circuit, path, tmp_path / f"{job.id}.witness.json").outputs  # type: ignore[union-attr]
        assert json.loads(job.outputs) == pytest.approx(list(alone))  # type: ignore[union-attr]
