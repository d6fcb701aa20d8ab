"""Export rewrites, folding: what the graph computes from shapes and constants becomes constants, exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zkml.errors import UnsupportedOpsError
from zkml.export import export_model
from zkml.preflight import preflight
from zkml.rewrite.fold import MAX_GROWN, NOTE_PREFIX, fold_shapes


def _model(nodes: list[Any], x_shape: list[Any], y_shape: list[Any], inits: list[Any], opset: int = 13, ir: int = 7) -> Any:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir
    onnx.checker.check_model(model)
    return model


def _int64(name: str, *values: int) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array(values, np.int64), name)


def _shaped_graph() -> Any:
    """y = Reshape(x[:, :T - 1], [T - 1, -1]) * mask, every size taken from ``Shape(x)`` (a 4 x 6 input)."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["width"], axis=0),
        helper.make_node("Sub", ["width", "one"], ["end"]),
        helper.make_node("Unsqueeze", ["end", "axis0"], ["ends"]),
        helper.make_node("Slice", ["x", "zeros", "ends", "axis1"], ["sliced"]),
        helper.make_node("Concat", ["ends", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["sliced", "target"], ["flat"]),
        helper.make_node("Shape", ["flat"], ["flat_shape"]),
        helper.make_node("ConstantOfShape", ["flat_shape"], ["ones"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
        helper.make_node("Trilu", ["ones"], ["mask"], upper=0),
        helper.make_node("Mul", ["flat", "mask"], ["y"]),
    ]
    inits = [_int64("one", 1), _int64("axis0", 0), _int64("axis1", 1), _int64("zeros", 0), _int64("minus_one", -1)]
    inits[0].dims[:] = []  # a scalar index, so Gather gives a scalar
    return _model(nodes, [4, 6], [5, 4], inits, opset=14)


def _run(model: Any, x: np.ndarray) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    return np.asarray(ReferenceEvaluator(model).run(None, {"x": x})[0])


def _ops(model: Any) -> list[str]:
    return [node.op_type for node in model.graph.node]


def test_shape_subgraphs_fold_into_constants_and_compute_the_same() -> None:
    import onnx

    model = _shaped_graph()
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    expected = _run(model, x)
    notes = fold_shapes(model)
    onnx.checker.check_model(model)
    assert _ops(model) == ["Slice", "Reshape", "Mul"]
    assert np.array_equal(_run(model, x), expected)
    assert len(notes) == 1 and notes[0].startswith(NOTE_PREFIX)
    assert "8 nodes" in notes[0] and "Shape x2" in notes[0] and "Trilu" in notes[0] and "into 3 constants" in notes[0]
    # The folded values are initializers under the names the graph used; what fed them is gone.
    names = {init.name for init in model.graph.initializer}
    assert {"ends", "target", "mask"} <= names and not {"one", "minus_one"} & names


def test_a_model_with_nothing_to_fold_is_unchanged_byte_for_byte() -> None:
    """Constants feeding live ops, float arithmetic on weights and an int8 weight's dequantization stay as exported."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Constant", [], ["target"], value=numpy_helper.from_array(np.array([1, 4], np.int64))),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Transpose", ["w"], ["w_t"], perm=[1, 0]),
        helper.make_node("Cast", ["w_q"], ["w_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["w_f", "scale"], ["w_d"]),
        helper.make_node("MatMul", ["flat", "w_t"], ["h"]),
        helper.make_node("MatMul", ["h", "w_d"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.ones((4, 4), np.float32), "w"),
        numpy_helper.from_array(np.arange(8, dtype=np.int8).reshape(4, 2), "w_q"),
        numpy_helper.from_array(np.array(0.5, np.float32), "scale"),
    ]
    model = _model(nodes, [2, 2], [1, 2], inits)
    before = model.SerializeToString()
    assert fold_shapes(model) == []
    assert model.SerializeToString() == before


def test_a_big_expand_of_a_float_is_not_folded() -> None:
    """Expand(1.0, Shape(x)) for a 512 x 512 input would write 262,144 floats: the shape folds, the Expand stays."""
    from onnx import helper, numpy_helper

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Expand", ["one", "shape"], ["ones"]),
        helper.make_node("Mul", ["x", "ones"], ["y"]),
    ]
    model = _model(nodes, [512, 512], [512, 512], [numpy_helper.from_array(np.array(1.0, np.float32), "one")])
    assert MAX_GROWN < 512 * 512
    notes = fold_shapes(model)
    assert _ops(model) == ["Expand", "Mul"] and notes and "Shape" in notes[0]
    # A small one (a recurrent layer's zero initial state, say) is folded.
    small = _model(nodes, [2, 3], [2, 3], [numpy_helper.from_array(np.array(1.0, np.float32), "one")])
    fold_shapes(small)
    assert _ops(small) == ["Mul"]


def test_graph_outputs_and_initializers_listed_as_inputs(tmp_path: Path) -> None:
    """A graph output stays a node's output; at IR 3 a new initializer is listed as a graph input too."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Cast", ["shape"], ["y"], to=TensorProto.FLOAT),
    ]
    kept = _model(nodes, [2, 3], [2], [])
    assert fold_shapes(kept) == [f"{NOTE_PREFIX}1 node computed from shapes and constants (Shape) into 1 constant"]
    assert [(node.op_type, list(node.output)) for node in kept.graph.node] == [("Cast", ["y"])]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    old = _model(nodes, [2, 3], [2, 3], [], opset=8, ir=3)
    assert fold_shapes(old) and _ops(old) == ["Reshape"]
    assert "shape" in [value.name for value in old.graph.input]
    onnx.checker.check_model(old)


def test_export_folds_records_and_preflight_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through export_model: the note is recorded; without folding, preflight refuses the computed mask and bounds."""
    import onnx

    from zkml.rewrite import NO_REWRITES_ENV

    path = tmp_path / "shaped.onnx"
    onnx.save(_shaped_graph(), str(path))
    model = export_model(path, tmp_path / "out.onnx")
    assert model.rewrites[0].startswith(NOTE_PREFIX) and preflight(model).ok
    monkeypatch.setenv(NO_REWRITES_ENV, "1")
    raw = export_model(path, tmp_path / "raw.onnx")
    assert raw.rewrites == ()
    with pytest.raises(UnsupportedOpsError, match="Trilu") as refused:
        preflight(raw)
    assert "Slice: starts/ends/axes/steps must be constants" in str(refused.value)
