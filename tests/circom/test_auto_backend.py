"""``[circuit] backend = "auto"`` in ``zkml run``: the frontier measured, the objective's choice, the demo through it."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from zkml.flow import BACKEND_STAGE, run_pipeline, stage_names
from zkml.pipeline import EVM_STAGES, STAGES, Pipeline
from zkml.workspace import Workspace


def _copy(proved: Any, tmp_path: Path, backend: str) -> Pipeline:
    root = tmp_path / proved.workspace.name
    if not root.exists():
        shutil.copytree(proved.workspace, root)
    return Pipeline(replace(proved.pipeline.config, backend=backend), Workspace(root))


def test_halo2_backend_runs_as_before(tiny: Any, anvil: Any, tmp_path: Path) -> None:
    pipeline = _copy(tiny, tmp_path, "halo2")
    summary = run_pipeline(pipeline, chain=True, rpc_url=anvil.url)
    assert summary.verified and summary.onchain is not None and summary.onchain.accepted
    assert summary.backend is None and "backend" not in summary.as_dict()
    assert BACKEND_STAGE not in [t.stage for t in summary.timings]
    assert not (Path(pipeline.ws.root) / "backends.json").exists() and not (Path(pipeline.ws.root) / "circom").exists()
    assert stage_names(pipeline.config, chain=True) == STAGES + EVM_STAGES
    assert BACKEND_STAGE in stage_names(replace(pipeline.config, backend="auto"), chain=True)


def test_ptau_rule_estimates_and_the_budget_source(tmp_path: Path) -> None:
    from zkml.circom.auto import fidelity_budget
    from zkml.circom.measure import PTAU_BUDGET_S, ptau_seconds

    # Groth16's prepared 2^12 (the example MLP's) fits the budget (generated with a warning); FFLONK's 2^15 powers do not.
    assert ptau_seconds(12, prepared=True) <= PTAU_BUDGET_S < ptau_seconds(13, prepared=True)
    assert ptau_seconds(15, prepared=False) > PTAU_BUDGET_S
    declared = SimpleNamespace(budget={"max_abs_error": 0.01}, root=tmp_path)
    assert fidelity_budget(declared, tmp_path / "ws", 0.5) == (0.01, "[budget] max_abs_error of zkml.toml")
    (tmp_path / "tuned.json").write_text(json.dumps({"budget": {"max_abs_error": 0.002}}))
    value, source = fidelity_budget(SimpleNamespace(budget=None, root=tmp_path), tmp_path / "ws", 0.5)
    assert value == 0.002 and "tuned.json" in source
    assert fidelity_budget(SimpleNamespace(budget=None, root=tmp_path / "none"), tmp_path / "ws", 0.5)[0] == 0.5


def test_the_line_names_what_was_not_measured_and_why_once() -> None:
    from zkml.artifacts import BackendRow
    from zkml.circom.auto import _left_out

    refused = [BackendRow(name, None, None, None, None, "", "not measured: no Mul") for name in ("groth16", "plonk")]
    ptau = BackendRow("fflonk", None, None, None, None, "", "not measured: needs ptau 2^15")
    measured = BackendRow("halo2", 0.001, 0.3, 546_000, 8_000_000, "universal")
    assert _left_out([measured, *refused, ptau]) == "; not measured: groth16, plonk (no Mul); fflonk (needs ptau 2^15)"
    assert _left_out([measured]) == ""


@pytest.mark.slow
def test_auto_chooses_by_the_objective_and_the_demo_goes_through_it(mlp: Any, anvil: Any, tmp_path: Path) -> None:
    """The example MLP with backend auto on a real anvil: measured, chosen by choose_backend, demo through the winner; then cached."""
    from zkml_cli.stages import _intake_lines

    from zkml.circom.auto import row_measurement
    from zkml.circom.choose import choose_backend
    from zkml.evm.rpc import code_at, connect

    summary = run_pipeline(_copy(mlp, tmp_path, "auto"), chain=True, rpc_url=anvil.url)
    report = summary.backend
    assert summary.verified and report is not None and not report.cached
    rows = {row.backend: row for row in report.frontier}
    assert set(rows) == {"halo2", "groth16", "plonk", "fflonk"} and rows["halo2"].measured and rows["groth16"].measured
    # The choice is the objective's over what was recorded, and the line says why (and what was not measured).
    measured = [m for m in (row_measurement(r) for r in report.frontier) if m is not None]
    assert report.chosen == choose_backend(measured, max_abs_error=report.max_abs_error_budget).backend
    assert report.reason.startswith(f"{report.chosen}: ") and "verify gas" in report.reason
    for row in report.frontier:
        assert row.measured or row.backend in report.reason.partition("; not measured: ")[2]
    assert f"  backend        {report.reason}" in _intake_lines(summary.as_dict())
    assert "tuned.json" in report.budget_source
    # The oracle demo registered the chosen backend's verifier and the vault acted on its prediction.
    demo = summary.demo
    assert demo is not None and demo["consumer_note"] == "" and demo["gas"]["act"]
    assert demo["registration"]["verifier"] == report.verifier_address
    if report.chosen == "halo2":
        assert summary.onchain is not None and report.verifier_address == summary.onchain.verifier_address
    else:
        assert demo["verifier_kind"] == f"{report.chosen}+adapter"
        assert len(code_at(connect(anvil.url), report.verifier_address)) > 0

    again = run_pipeline(_copy(mlp, tmp_path, "auto"), chain=True, rpc_url=anvil.url)
    assert again.backend is not None and again.backend.cached and again.backend.chosen == report.chosen
    assert next(t for t in again.timings if t.stage == BACKEND_STAGE).reused
    assert [r.as_dict()["verify_gas"] for r in again.backend.frontier[1:]] == [r.as_dict()["verify_gas"] for r in report.frontier[1:]]


def test_held_out_samples_are_cut_per_input_in_graph_order() -> None:
    from zkml.circom.measure import samples_of
    from zkml.errors import CircuitError

    # ezkl's input_data: one list per input, all samples' values flat (here 2 samples of [3] and [2] values).
    assert samples_of([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10]], [3, 2]) == [[1, 2, 3, 7, 8], [4, 5, 6, 9, 10]]
    assert samples_of([[1, 2], [3, 4]], [2]) == [[1, 2], [3, 4]]  # one input: any nesting, cut by its size
    with pytest.raises(CircuitError, match="does not split"):
        samples_of([[1, 2, 3], [4]], [2, 1])


def _linear_forecaster(tmp_path: Path, backend: str) -> Path:
    """mlp_regressor's folder (feed, consumer, data) with its model swapped for one Gemm 8 -> 1: a batch-2 Groth16
    circuit of a few hundred constraints, whose development ptau a test session makes in seconds."""
    import numpy as np
    from onnx import helper

    from tests.circom.models import write_model
    from tests.conftest import CIRCUITS

    folder = tmp_path / "linear_forecaster"
    shutil.copytree(CIRCUITS / "mlp_regressor", folder, ignore=shutil.ignore_patterns("tuned.json", "weights.safetensors"))
    rng = np.random.default_rng(12)
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    write_model(folder / "linear.onnx", [node], 8, 1, {"w": rng.normal(0, 0.3, (1, 8)), "b": np.array([0.05])})
    toml = (folder / "zkml.toml").read_text()
    toml = toml.replace('name = "mlp_regressor"', 'name = "linear_forecaster"')
    toml = toml.replace('factory = "model.py:build"\nexample_input = "model.py:example_input"', 'onnx = "linear.onnx"')
    (folder / "zkml.toml").write_text(toml.replace('backend = "auto"', f'backend = "{backend}"'))
    return folder


@pytest.mark.slow  # about a minute: the batch-2 halo2 run, the circom batch circuit's Groth16 setup, the demo
def test_a_batch_goes_on_chain_through_the_circom_backend(anvil: Any, tmp_path: Path) -> None:
    """``zkml run --batch-size 2`` with a circom system: one Groth16 proof of the feed's two newest epochs, published
    through the adapter; its public signals are the source's windows and the halo2 batch circuit's outputs."""
    from zkml.config import load_config
    from zkml.evm.onchain import read_proof
    from zkml.evm.rpc import connect
    from zkml.flow import run
    from zkml.oracle import model_spec
    from zkml.oracle.feed import source_instances

    config = load_config(_linear_forecaster(tmp_path, "groth16"))
    summary = run(config, tmp_path / "build", chain=True, rpc_url=anvil.url, batch_size=2)
    report, demo = summary.backend, summary.demo
    assert summary.verified and report is not None and report.chosen == "groth16", report
    rows = {row.backend: row for row in report.frontier}
    assert rows["groth16"].measured and rows["groth16"].max_abs_error == 0.0 and report.max_abs_error_budget == 0.0
    assert demo is not None and demo["verifier_kind"] == "groth16+adapter" and demo["consumer_note"] == ""
    assert demo["registration"]["verifier"] == report.verifier_address and demo["registration"]["max_epoch_lag"] >= 1
    assert demo["gas"]["submit_per_prediction"] == demo["gas"]["submit"] // 2 and demo["gas"]["act"]
    proof = read_proof(Path(demo["proof"]))
    spec = model_spec(summary.workspace / "settings.json")
    attested, _ = source_instances(connect(anvil.url), demo["source_address"], [demo["epoch"] - 1, demo["epoch"]])
    assert [int(v) for v in spec.input_instances(proof.instances)] == [int(v) for v in attested]
    halo2 = read_proof(summary.workspace / "proof.json")  # the same circuit as halo2's batch: its outputs on these inputs
    assert len(proof.instances) == len(halo2.instances) == 2 * (8 + 1)
