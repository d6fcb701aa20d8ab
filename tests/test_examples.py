"""Every example circuit end to end, on-chain included (slow: `make test-slow`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.config import load_config
from zkml.flow import run_pipeline
from zkml.pipeline import Pipeline
from zkml.workspace import Workspace

from .conftest import CIRCUITS

EXAMPLES = sorted(p.name for p in CIRCUITS.iterdir() if (p / "zkml.toml").is_file())


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_end_to_end_and_reuses_keys(name: str, tmp_path: Path) -> None:
    config = load_config(CIRCUITS / name)
    summary = run_pipeline(Pipeline(config, Workspace(tmp_path / name)), chain=True)
    assert summary.verified, summary.verify_reason
    assert summary.extra["onchain_accepted"] is True
    assert summary.extra["verifier_runtime_bytes"] <= 24_576
    fidelity = summary.fidelity
    assert fidelity is not None
    if config.task == "classification":
        assert fidelity.argmax_agreement is not None and fidelity.argmax_agreement >= 0.95
    # The on-chain decoded outputs are the circuit's outputs.
    assert summary.extra["onchain_outputs"] == pytest.approx(list(summary.outputs), abs=1e-9)
    # Only a circuit that declares a [consumer] goes on to the oracle demo.
    assert ("oracle" in summary.extra) == (config.consumer is not None)

    again = Pipeline(config, Workspace(tmp_path / name))
    second = again.run()
    assert second.verified
    assert {t.stage: t.reused for t in again.timings}["keys"] is True
