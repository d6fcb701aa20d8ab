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
