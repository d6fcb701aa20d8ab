"""zkml.reference: the float reference comes from onnx's reference evaluator where onnxruntime refuses a valid graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from zkml.data import Samples
from zkml.errors import ExportError
from zkml.export import evaluate_float, export_model, reference_evaluator, reference_outputs
from zkml.reference import ONNX_REFERENCE, ONNXRUNTIME, open_evaluator

from .helpers import make_tiny_onnx

WEIGHTS = np.array([[1, -2], [3, 4], [-1, 1]], dtype=np.int8)


def int8_matmul(path: Path) -> Path:
    """Cast to int8, MatMul with int8 weights, Cast back: valid ONNX that onnxruntime has no kernel for."""
    nodes = [
        helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT8),
        helper.make_node("MatMul", ["xi", "W"], ["yi"]),
        helper.make_node("Cast", ["yi"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "int8mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(WEIGHTS, "W")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_graph_onnxruntime_refuses_gets_the_reference_evaluator(tmp_path: Path) -> None:
    model = export_model(int8_matmul(tmp_path / "src.onnx"), tmp_path / "m.onnx")
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 2.0]])
    result = evaluate_float(model, Samples((x,)))
    assert result.evaluator == ONNX_REFERENCE
    assert result.fallback_reason and "int8" in result.fallback_reason
    np.testing.assert_array_equal(result.arrays[0], x @ WEIGHTS.astype(np.float64))
    with_ref = reference_outputs(model, Samples((x[:1],)), tmp_path / "ref.json")
    assert reference_evaluator(with_ref) == ONNX_REFERENCE
    assert json.loads((tmp_path / "ref.json").read_text())["outputs"] == [[[4.0, 9.0]]]


def test_onnxruntime_stays_the_evaluator_where_it_runs(tmp_path: Path) -> None:
    model = export_model(make_tiny_onnx(tmp_path / "tiny.onnx"), tmp_path / "m.onnx")
    with_ref = reference_outputs(model, Samples((np.zeros((1, 4)),)), tmp_path / "ref.json")
    assert reference_evaluator(with_ref) == ONNXRUNTIME
    # Both evaluators agree on a graph both run.
    ort_out = open_evaluator(model.path).run([model.outputs[0].name], {model.inputs[0].name: np.ones((1, 4), np.float32)})
    ref_out = open_evaluator(model.path, prefer=ONNX_REFERENCE).run(
        [model.outputs[0].name], {model.inputs[0].name: np.ones((1, 4), np.float32)}
    )
    np.testing.assert_allclose(ort_out[0], ref_out[0], rtol=1e-5)


def test_a_model_no_evaluator_loads_names_both_reasons(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no float evaluator can load.*onnxruntime: .*onnx.reference: "):
        open_evaluator(b"not a model")
