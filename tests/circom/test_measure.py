"""zkml.circom.measure: the circom path's outputs must be ezkl's witness outputs, or no circom system is measured.

Every model the circom path takes computes ezkl's integers exactly (tests/circom/test_graph.py and
the others); an op combination zkml mirrors wrongly is what these tests stand in for, by recording
an ezkl witness output that differs from the circuit's, as a wrong mirror would.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.circom.models import SCALE, ezkl_instances, ezkl_settings, residual_model
from zkml.circom.graph import ScaleSettings, read_graph


def _fidelity_report(tmp_path: Path, samples: list[list[float]]) -> tuple[Path, Path, Path, list[list[int]]]:
    """(onnx, settings, fidelity.json, ezkl's integer outputs per sample) as the halo2 run writes them."""
    onnx_path = residual_model(tmp_path / "m.onnx")
    settings, compiled = tmp_path / "settings.json", tmp_path / "model.compiled"
    ezkl_settings(onnx_path, settings, compiled)
    outputs = [ezkl_instances(compiled, values, tmp_path)[1] for values in samples]
    data = tmp_path / "holdout.json"
    data.write_text(json.dumps({"input_data": [[v for values in samples for v in values]]}))
    report = tmp_path / "fidelity.json"
    circuit_outputs = [[o / 2**SCALE for o in row] for row in outputs]
    report.write_text(json.dumps({"data": str(data), "float_outputs": circuit_outputs, "circuit_outputs": circuit_outputs}))
    return onnx_path, settings, report, outputs


def _misrecord(report: Path, sample: int, output: int) -> int:
    """Record ezkl's output ``output`` of ``sample`` one unit off, as a circuit that mirrors ezkl wrongly would see it."""
    data = json.loads(report.read_text())
    data["circuit_outputs"][sample][output] += 2.0**-SCALE
    report.write_text(json.dumps(data))
    return round(data["circuit_outputs"][sample][output] * 2**SCALE)


def test_the_circuit_agrees_with_ezkls_witness_or_says_where_not(tmp_path: Path) -> None:
    from zkml.circom.measure import circom_fidelity

    samples = np.random.default_rng(1).normal(0, 1.5, (3, 4)).tolist()
    onnx_path, settings, report, outputs = _fidelity_report(tmp_path, samples)
    circuit: Any = SimpleNamespace(graph=read_graph(onnx_path, ScaleSettings.read(settings)))
    assert circom_fidelity(circuit, report) == (0.0, 3, "")
    theirs = _misrecord(report, 1, 2)
    error, count, disagreement = circom_fidelity(circuit, report)
    assert count == 3 and error == 0.0  # the float reference is unchanged: only the exactness check sees it
    assert disagreement == f"1 of 3 held-out samples (first: sample 1, output 2: {outputs[1][2]} against ezkl's {theirs} at scale {SCALE})"


def test_a_circuit_that_is_not_ezkls_function_is_left_out_before_any_key_is_made(tmp_path: Path) -> None:
    from zkml.circom.measure import SYSTEMS, measure_circom

    samples = np.random.default_rng(2).normal(0, 1.5, (2, 4)).tolist()
    onnx_path, settings, report, _ = _fidelity_report(tmp_path, samples)
    _misrecord(report, 0, 0)
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [samples[0]]}))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    run = measure_circom(workspace, onnx_path, settings, tmp_path / "input.json", report, conn=None, allow_unsafe_srs=True)
    assert [row.backend for row in run.rows] == list(SYSTEMS) and not run.cached
    for row in run.rows:
        assert row.verify_gas is None and row.note.startswith("not measured: the circom circuit's outputs differ from ezkl's witness")
        assert "1 of 2 held-out samples (first: sample 0, output 0:" in row.note
    assert not list(workspace.rglob("*.zkey")) and not list(workspace.rglob("proof*"))
    again = measure_circom(workspace, onnx_path, settings, tmp_path / "input.json", report, conn=None, allow_unsafe_srs=True)
    assert again.cached and [row.note for row in again.rows] == [row.note for row in run.rows]


def _proof_file(path: Path, signed: list[int]) -> Path:
    """An ezkl-shaped proof.json whose instances are ``signed`` (inputs then outputs) as field elements."""
    from zkml.circom.prove import to_field

    path.write_text(json.dumps({"hex_proof": "0x00", "instances": [[to_field(v).to_bytes(32, "little").hex() for v in signed]]}))
    return path


def test_the_halo2_proofs_outputs_must_be_the_circuits_on_its_inputs(tmp_path: Path) -> None:
    from zkml.circom.graph import evaluate, quantize
    from zkml.circom.measure import instances_disagreement

    onnx_path = residual_model(tmp_path / "m.onnx")
    circuit: Any = SimpleNamespace(graph=read_graph(onnx_path, ScaleSettings(SCALE, SCALE)))
    inputs = [quantize(v, SCALE) for v in (0.5, -1.25, 2.0, 0.75)]
    outputs = list(evaluate(circuit.graph, inputs))
    assert instances_disagreement(circuit, _proof_file(tmp_path / "ok.json", [*inputs, *outputs])) == ""
    off = [*outputs[:-1], outputs[-1] - 1]
    said = instances_disagreement(circuit, _proof_file(tmp_path / "off.json", [*inputs, *off]))
    assert said == f"the run's proof (output {len(outputs) - 1}: {outputs[-1]} against ezkl's {outputs[-1] - 1})"
    said = instances_disagreement(circuit, _proof_file(tmp_path / "short.json", [*inputs, *outputs[:-1]]))
    assert (
        said == f"the halo2 proof has {len(inputs) + len(outputs) - 1} instances, the circuit {len(inputs) + len(outputs)} public signals"
    )


def test_a_batch_workspace_makes_its_batch_1_models_batch_circuit(tmp_path: Path) -> None:
    from zkml.circom.batch import batch_graph
    from zkml.circom.measure import circuit_source, load_or_compile
    from zkml.errors import CircuitError
    from zkml.workspace import Layout

    plain, batched = tmp_path / "plain", tmp_path / "batch-3"
    for folder in (plain, batched):
        folder.mkdir()
    assert circuit_source(plain) == (Layout(plain).onnx, 1)
    Layout(batched).batch_stamp.write_text(json.dumps({"batch_size": 3, "inputs": "x", "compiled": "y"}))
    with pytest.raises(CircuitError, match="no batch-1 model model.b1.onnx"):
        circuit_source(batched)
    single = residual_model(batched / "model.b1.onnx")
    assert circuit_source(batched) == (single, 3)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    circuit = load_or_compile(single, settings, batched / "circom", batch_size=3)
    graph = read_graph(single, ScaleSettings(SCALE, SCALE))
    assert circuit.public_signals == 3 * (graph.input_size + graph.output_size) and circuit.graph == batch_graph(graph, 3)
    compiled_at = (batched / "circom" / "model.r1cs").stat().st_mtime_ns
    again = load_or_compile(single, settings, batched / "circom", batch_size=3)  # the same source: not compiled again
    assert again.r1cs_sha256 == circuit.r1cs_sha256 and (batched / "circom" / "model.r1cs").stat().st_mtime_ns == compiled_at
