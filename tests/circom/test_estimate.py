"""The circom backend's estimate: its measured basis, the fitted lines, exact sizes from a compiled circuit, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.circom.models import SCALE, residual_model, write_model
from zkml.circom.estimate import (
    GAS_PER_PUBLIC_SIGNAL,
    MEASURED,
    SYSTEM_NAMES,
    compile_and_estimate,
    estimate_circom,
    fit_line,
    groth16_gas_floor,
    predict_systems,
)

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ROOT / "benchmarks" / "results" / "backends.json"


def _settings(folder: Path) -> Path:
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    return path


def test_the_measured_rows_are_the_benchmarks() -> None:
    """Every embedded row is backends.json's (constraints, prove seconds, verify gas, ptau power), and each system is there."""
    rows = {(r["model"], r["backend"]): r for r in json.loads(BACKENDS.read_text())["rows"]}
    for model, system, constraints, gates, public, prove_s, gas in MEASURED:
        row = rows[(model, system)]
        assert (row["constraints"], row["prove_s"], row["verify_gas"]) == (constraints, prove_s, gas)
        predicted = next(s for s in predict_systems(constraints, gates, public) if s.system == system)
        # snarkjs's rule on the compiled sizes; the run may have used a larger cached ptau (it serves smaller circuits).
        assert predicted.ptau_power <= row["ptau_power"]
    assert {row[1] for row in MEASURED} == set(SYSTEM_NAMES)


def test_the_gas_lines_reproduce_the_measurements() -> None:
    for model, system, constraints, gates, public, _, gas in MEASURED:
        predicted = next(s for s in predict_systems(constraints, gates, public) if s.system == system)
        assert predicted.verify_gas == pytest.approx(gas, rel=0.01), (model, system)
    # Groth16: the per-signal cost is at least the EIP-1108 ecMul + ecAdd, and every measurement sits above the floor.
    intercept, slope = fit_line([(row[4], row[6]) for row in MEASURED if row[1] == "groth16"])
    assert GAS_PER_PUBLIC_SIGNAL < slope < 2 * GAS_PER_PUBLIC_SIGNAL
    assert all(row[6] > groth16_gas_floor(row[4]) for row in MEASURED if row[1] == "groth16")
    assert groth16_gas_floor(9) == 21_000 + 181_000 + 9 * 6_150


def test_a_line_never_slopes_down() -> None:
    assert fit_line([(1, 3.0), (2, 2.0), (3, 1.0)]) == (2.0, 0.0)
    assert fit_line([(0, 1.0), (2, 5.0)]) == pytest.approx((1.0, 2.0))


def test_an_estimate_from_the_graph(tmp_path: Path) -> None:
    estimate = estimate_circom(residual_model(tmp_path / "m.onnx"), _settings(tmp_path))
    assert estimate.takes and not estimate.exact and estimate.public_signals == 7
    assert estimate.plonk_gates == 2 * estimate.constraints + 7
    groth16, plonk, fflonk = estimate.systems
    assert groth16.ptau_power == 10 and plonk.ptau_power == 11 and fflonk.ptau_power == 14
    data = json.loads(json.dumps(estimate.as_dict()))
    assert data["basis"]["constraints"].startswith("predicted") and data["basis"]["verify_gas"].startswith("predicted")
    assert estimate.lines()[0].endswith("[predicted]")


@pytest.mark.slow
def test_an_estimate_from_the_compiled_circuit(tmp_path: Path) -> None:
    """Compiling takes a few seconds: the exact sizes are close to the graph's estimate."""
    onnx, settings = residual_model(tmp_path / "m.onnx"), _settings(tmp_path)
    predicted = estimate_circom(onnx, settings)
    exact = compile_and_estimate(onnx, settings, tmp_path / "circom")
    assert exact.takes and exact.exact and exact.public_signals == 7
    assert exact.constraints == pytest.approx(predicted.constraints, rel=0.1)
    assert exact.plonk_gates == pytest.approx(predicted.plonk_gates, rel=0.15)
    groth16, plonk, fflonk = exact.systems
    assert (groth16.system, plonk.system, fflonk.system) == SYSTEM_NAMES
    assert groth16.ptau_power <= plonk.ptau_power < fflonk.ptau_power and all(s.within_backend for s in exact.systems)
    assert groth16.verify_gas > (groth16.verify_gas_floor or 0) > 0 and plonk.verify_gas_floor is None
    assert all(s.prove_seconds > 0 for s in exact.systems)
    data = json.loads(json.dumps(exact.as_dict()))
    assert set(data["systems"]) == set(SYSTEM_NAMES) and data["basis"]["constraints"].startswith("exact")
    lines = exact.lines()
    assert lines[0].endswith("[exact]") and all(line.endswith("[predicted]") for line in lines[1:])


def test_a_model_the_backend_cannot_take_says_why(tmp_path: Path) -> None:
    from onnx import helper

    onnx = write_model(tmp_path / "s.onnx", [helper.make_node("Exp", ["x"], ["y"])], 2, 2, {})
    estimate = estimate_circom(onnx, _settings(tmp_path))
    assert not estimate.takes and "Exp" in estimate.reason and estimate.systems == ()
    assert estimate.lines() == [f"circom: no: {estimate.reason}"]
    assert compile_and_estimate(onnx, _settings(tmp_path), tmp_path / "circom") == estimate
    assert not (tmp_path / "circom").exists()


def test_a_batch_workspace_is_estimated_as_its_batch_circuit(tmp_path: Path) -> None:
    """``zkml estimate --batch-size B``: the batch-1 model's circuit B times (not the unrolled ONNX, whose Concat and Slice
    the circom path does not read); compiled, the sizes are the batch circuit's exactly."""
    from zkml.circom.estimate import estimate_workspace
    from zkml.workspace import Layout

    workspace = tmp_path / "batch-3"
    workspace.mkdir()
    single = residual_model(workspace / "model.b1.onnx")
    Layout(workspace).batch_stamp.write_text(json.dumps({"batch_size": 3, "inputs": "x", "compiled": "y"}))
    one, three = estimate_circom(single, _settings(tmp_path)), estimate_workspace(workspace, _settings(tmp_path))
    assert three.takes and (three.constraints, three.public_signals) == (3 * one.constraints, 3 * one.public_signals)
    exact = estimate_workspace(workspace, _settings(tmp_path), compile_circuit=True)
    assert exact.exact and exact.public_signals == 3 * 7 and (workspace / "circom" / "model.r1cs").is_file()
    compiled_one = compile_and_estimate(single, _settings(tmp_path), tmp_path / "one")
    assert exact.constraints == 3 * compiled_one.constraints
    empty = tmp_path / "batch-2"
    empty.mkdir()
    Layout(empty).batch_stamp.write_text(json.dumps({"batch_size": 2, "inputs": "x", "compiled": "y"}))
    refused = estimate_workspace(empty, _settings(tmp_path))
    assert not refused.takes and "no batch-1 model" in refused.reason
