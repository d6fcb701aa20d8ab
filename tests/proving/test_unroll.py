"""zkml.proving.unroll: the batch graph rewrite on small ONNX graphs made here (onnx + onnxruntime, no ezkl)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from zkml.errors import ConfigError, ExportError
from zkml.proving.unroll import unroll_batch

WEIGHTS = np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5
BIAS = np.array([0.1, -0.2, 0.3], dtype=np.float32)


def _linear_relu(opset: int, batch_axis: int | str = 1) -> Any:
    """y = relu(x @ W + b) for x of shape [1, 4], written with MatMul/Add/Relu (valid at every opset)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
            helper.make_node("Add", ["h", "b"], ["z"]),  # unnamed: copies are named after the op type and position
            helper.make_node("Relu", ["z"], ["y"], name="relu"),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_axis, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch_axis, 3])],
        initializer=[numpy_helper.from_array(WEIGHTS, "W"), numpy_helper.from_array(BIAS, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _run(model: Any, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString())
    (out,) = session.run(None, {"x": batch})
    return np.asarray(out)


@pytest.mark.parametrize("opset", [9, 13])  # Slice bounds as attributes before opset 10, as inputs from 10 on
def test_unrolled_graph_equals_the_model_per_sample(opset: int) -> None:
    import onnx

    unrolled = unroll_batch(_linear_relu(opset), 3)
    onnx.checker.check_model(unrolled)
    batch = np.random.default_rng(0).uniform(-1, 1, size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(unrolled, batch), np.maximum(batch @ WEIGHTS + BIAS, 0), rtol=1e-6)
    assert [d.dim_value for d in unrolled.graph.input[0].type.tensor_type.shape.dim] == [3, 4]
    assert [d.dim_value for d in unrolled.graph.output[0].type.tensor_type.shape.dim] == [3, 3]


def test_weights_are_shared_and_copies_renamed_per_sample() -> None:
    proto = _linear_relu(13)
    unrolled = unroll_batch(proto, 2)
    names = {init.name for init in unrolled.graph.initializer}
    # W and b once; the slice axes once; a start and an end per sample.
    assert names == {"W", "b", "zkml_batch/axes", "zkml_batch/start0", "zkml_batch/end0", "zkml_batch/start1", "zkml_batch/end1"}
    nodes = [n.name for n in unrolled.graph.node]
    assert nodes[:4] == ["zkml_batch/slice0/x", "s0/mm", "s0/Add_1", "s0/relu"]
    assert nodes[-1] == "zkml_batch/concat/y"
    add = next(n for n in unrolled.graph.node if n.name == "s1/Add_1")
    assert list(add.input) == ["s1/h", "b"] and list(add.output) == ["s1/z"]
    assert unrolled.ir_version == proto.ir_version and len(proto.graph.node) == 3  # the source is left alone


def test_unnamed_nodes_of_one_op_get_distinct_names() -> None:
    """ezkl (tract) refuses a graph with two nodes of one name: two unnamed Gemms must not both become s0/Gemm."""
    from onnx import TensorProto, helper, numpy_helper

    square = np.eye(4, dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["h"]), helper.make_node("Gemm", ["h", "W"], ["y"])],
        "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(square, "W")],
    )
    names = [n.name for n in unroll_batch(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), 2).graph.node]
    assert len(names) == len(set(names)) and {"s0/Gemm_0", "s0/Gemm_1"} <= set(names)


def test_batch_of_one_is_the_same_model() -> None:
    batch = np.array([[0.2, -0.4, 0.6, 0.8]], dtype=np.float32)
    np.testing.assert_allclose(_run(unroll_batch(_linear_relu(13), 1), batch), _run(_linear_relu(13), batch), rtol=1e-6)


def test_batch_size_below_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must be >= 1"):
        unroll_batch(_linear_relu(13), 0)


@pytest.mark.parametrize(("axis", "shown"), [(2, "fixed at 2"), ("N", "fixed at nothing")])
def test_batch_axis_other_than_one_is_refused(axis: int | str, shown: str) -> None:
    with pytest.raises(ExportError, match=shown):
        unroll_batch(_linear_relu(13, batch_axis=axis), 4)


def test_subgraphs_are_refused() -> None:
    from onnx import TensorProto, helper

    branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["z"])], "b", [], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])]
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)],
        "with_if",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]), helper.make_tensor_value_info("c", TensorProto.BOOL, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    with pytest.raises(ExportError, match="subgraph"):
        unroll_batch(helper.make_model(graph), 2)
