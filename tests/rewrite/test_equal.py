"""Export rewrites, Equal: replaced exactly, recorded, and computed right by real ezkl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkml.errors import UnsupportedOpsError
from zkml.export import evaluate_float, export_model
from zkml.preflight import preflight
from zkml.rewrite import METADATA_KEY, recorded_rewrites


def _save(path: Path, nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any], opset: int) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _float_equal(path: Path, opset: int, rows: int = 2) -> Path:
    """y = x + (x == c), with c broadcast from a row; x and c at several points equal."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Equal", ["x", "c"], ["mask"], name="eq"),
        helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "m"], ["y"]),
    ]
    c = numpy_helper.from_array(np.array([[0.0, 1.5, -2.0, 0.25]], np.float32), "c")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, 4])
    return _save(path, nodes, [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, 4])], [c], opset)


def _bool_and_int_equal(path: Path) -> Path:
    """Equal on two comparison results (booleans) and on int64 casts, at opset 13."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["pos"]),
        helper.make_node("Greater", ["x", "one"], ["big"]),
        helper.make_node("Equal", ["pos", "big"], ["same"], name="bool_eq"),
        helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT64),
        helper.make_node("Equal", ["xi", "two"], ["is_two"], name="int_eq"),
        helper.make_node("Cast", ["same"], ["a"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["is_two"], ["b"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["a", "b"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.zeros((1, 4), np.float32), "zero"),
        numpy_helper.from_array(np.ones((1, 4), np.float32), "one"),
        numpy_helper.from_array(np.full((1, 4), 2, np.int64), "two"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    return _save(path, nodes, [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits, 13)


def _reference(path: Path, x: np.ndarray) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    return np.asarray(ReferenceEvaluator(str(path)).run(None, {"x": x.astype(np.float32)})[0])


def _ops(path: Path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(str(path)).graph.node]


def test_float_equal_is_rewritten_exactly_and_recorded(tmp_path: Path) -> None:
    from zkml.data import Samples

    original = _float_equal(tmp_path / "eq.onnx", opset=10)
    model = export_model(original, tmp_path / "out.onnx")
    assert "Equal" not in _ops(model.path) and {"Less", "Greater", "Or", "Not"} <= set(_ops(model.path))
    assert len(model.rewrites) == 1 and model.rewrites[0].startswith("eq: Equal -> Not(Or(Less, Greater))")
    assert preflight(model).ok
    x = np.array([[0.0, 1.5, -2.0, 0.25], [0.0001, 1.0, -2.0, 3.0]])
    expected = _reference(original, x)
    assert np.allclose(expected, [[1.0, 2.5, -1.0, 1.25], [0.0001, 1.0, -1.0, 3.0]])
    # onnxruntime refuses the original (no float Equal at opset 10) but runs the rewrite, to the same values.
    floats = evaluate_float(model, Samples((x,)))
    assert floats.evaluator == "onnxruntime"
    assert np.array_equal(floats.arrays[0].astype(np.float32), expected)


def test_boolean_and_integer_equal(tmp_path: Path) -> None:
    from zkml.data import Samples

    original = _bool_and_int_equal(tmp_path / "eq.onnx")
    model = export_model(original, tmp_path / "out.onnx")
    assert "Equal" not in _ops(model.path) and "Xor" in _ops(model.path)
    assert [note.split(":")[0] for note in model.rewrites] == ["bool_eq", "int_eq"]
    assert "Not(Xor)" in model.rewrites[0] and "Not(Or(Less, Greater))" in model.rewrites[1]
    x = np.array([[-1.0, 0.5, 2.0, 3.0]])
    floats = evaluate_float(model, Samples((x,)))
    assert np.array_equal(floats.arrays[0].astype(np.float32), _reference(original, x))


def test_reexport_keeps_one_record_and_old_opsets_are_refused(tmp_path: Path) -> None:
    import onnx

    first = export_model(_float_equal(tmp_path / "eq.onnx", opset=10), tmp_path / "once.onnx")
    again = export_model(first.path, tmp_path / "twice.onnx")
    assert again.rewrites == first.rewrites
    props = [p for p in onnx.load(str(again.path)).metadata_props if p.key == METADATA_KEY]
    assert len(props) == 1 and json.loads(props[0].value) == list(first.rewrites)
    assert recorded_rewrites(onnx.load(str(again.path))) == first.rewrites
    # Opset 8 has no integer Less/Greater: the node stays, and preflight says why.
    old = export_model(_float_equal(tmp_path / "eq8.onnx", opset=8), tmp_path / "old.onnx")
    assert old.rewrites == () and "Equal" in _ops(old.path)
    with pytest.raises(UnsupportedOpsError, match="export rewrites it from opset 9 on"):
        preflight(old)


def test_ezkl_computes_the_rewritten_equal_right(tmp_path: Path) -> None:
    """The premise and the fix on real ezkl: the circuit's outputs equal the float model's, 1 where x == c."""
    from dataclasses import replace

    from zkml.config import config_for_onnx
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    original = _float_equal(tmp_path / "eq.onnx", opset=10, rows=1)
    input_path = tmp_path / "input.json"
    x = [[0.0, 1.5, 1.0, 0.25]]
    input_path.write_text(json.dumps({"input_data": x}))
    config = replace(config_for_onnx(original, input_path=input_path), name="eq")
    pipeline = Pipeline(config, Workspace(tmp_path / "build" / "eq"))
    outputs = pipeline.witness().outputs
    expected = _reference(original, np.array(x)).ravel()
    assert expected.tolist() == [1.0, 2.5, 1.0, 1.25]
    assert np.allclose(outputs, expected, atol=1e-3), outputs
    fidelity = json.loads(pipeline.ws.fidelity.read_text())
    assert fidelity["rewrites"] == list(pipeline.export().rewrites) and fidelity["max_abs_error"] < 1e-3


def test_rewrites_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zkml.config import config_for_onnx
    from zkml.export import export_fingerprint
    from zkml.rewrite import NO_REWRITES_ENV

    original = _float_equal(tmp_path / "eq.onnx", opset=10)
    on = export_fingerprint(config_for_onnx(original), None)
    monkeypatch.setenv(NO_REWRITES_ENV, "1")
    model = export_model(original, tmp_path / "out.onnx")
    assert model.rewrites == () and "Equal" in _ops(model.path)
    # The export stage's cache key changes with it, so a cached rewritten model is not reused.
    assert export_fingerprint(config_for_onnx(original), None) != on
