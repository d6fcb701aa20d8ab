"""``zkml run``'s composition: the EVM stages for every circuit, the oracle demo only for one that declares a consumer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from zkml.flow import DEMO_STAGE, run_pipeline, stage_names
from zkml.pipeline import EVM_STAGES, STAGES, Pipeline
from zkml.workspace import Workspace


def _copy(proved: Any, tmp_path: Path) -> Pipeline:
    root = tmp_path / proved.workspace.name
    shutil.copytree(proved.workspace, root)
    return Pipeline(proved.pipeline.config, Workspace(root))


def test_a_model_without_consumer_stops_after_onchain_verification(tiny: Any, anvil: Any, tmp_path: Path) -> None:
    assert tiny.pipeline.config.consumer is None
    summary = run_pipeline(_copy(tiny, tmp_path), chain=True, rpc_url=anvil.url)
    assert summary.verified and summary.extra["onchain_accepted"] is True
    assert "oracle" not in summary.extra
    assert DEMO_STAGE not in [t.stage for t in summary.timings]
    assert stage_names(tiny.pipeline.config, chain=True) == STAGES + EVM_STAGES


def test_a_declared_consumer_acts_on_the_verified_prediction(mlp: Any, anvil: Any, tmp_path: Path) -> None:
    assert mlp.pipeline.config.consumer is not None
    summary = run_pipeline(_copy(mlp, tmp_path), chain=True, rpc_url=anvil.url)
    demo = summary.extra["oracle"]
    assert demo["prediction"]["floats"] == summary.extra["onchain_outputs"]
    assert 0 <= demo["consumer"]["target_risky_bps"] <= 10_000
    assert stage_names(mlp.pipeline.config, chain=True)[-1] == DEMO_STAGE


def test_without_chain_nothing_is_deployed(tiny: Any, tmp_path: Path) -> None:
    pipeline = _copy(tiny, tmp_path)
    record = pipeline.ws.deployments
    before = record.read_bytes() if record.exists() else None  # other tests may have deployed this workspace's verifier
    summary = run_pipeline(pipeline, chain=False)
    assert summary.verified and summary.extra == {}
    assert (record.read_bytes() if record.exists() else None) == before
