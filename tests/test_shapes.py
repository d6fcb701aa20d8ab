"""zkml.shapes: symbolic dimensions resolved from the fixed input shapes; what stays symbolic is refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from zkml.data import Samples
from zkml.errors import ExportError
from zkml.export import export_model, run_onnx
from zkml.shapes import resolve_shapes


class _Reshaping(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.reshape(x.shape[0], -1, 2)
        return torch.softmax(h, dim=-1).flatten(1), h.sum(-1)


def test_symbolic_outputs_are_resolved_from_the_input_shape(tmp_path: Path) -> None:
    src = tmp_path / "sym.onnx"
    axes = {"x": {0: "B"}, "a": {0: "B", 1: "F"}, "b": {0: "B", 1: "G"}}
    torch.onnx.export(
        _Reshaping(), (torch.zeros(1, 8),), str(src), input_names=["x"], output_names=["a", "b"], dynamic_axes=axes, dynamo=False
    )
    model = export_model(src, tmp_path / "fixed.onnx")
    assert [s.shape for s in model.inputs] == [(1, 8)]
    assert [(s.name, s.shape) for s in model.outputs] == [("a", (1, 8)), ("b", (1, 4))]
    # No symbolic annotation is left anywhere in the written graph.
    proto = onnx.load(str(model.path))
    for value in list(proto.graph.value_info) + list(proto.graph.output):
        assert all(d.HasField("dim_value") for d in value.type.tensor_type.shape.dim), value.name
    out = run_onnx(model, Samples((np.arange(8.0).reshape(1, 8),)))
    np.testing.assert_allclose(out[1], [[1.0, 5.0, 9.0, 13.0]])


def _nonzero_model() -> onnx.ModelProto:
    nodes = [helper.make_node("NonZero", ["x"], ["nz"]), helper.make_node("Cast", ["nz"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(
        nodes,
        "nz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["R", "K"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_an_output_that_cannot_be_resolved_is_named() -> None:
    # Shape inference cannot size NonZero's output, and running it gives zero rows: never taken for a circuit shape.
    model = _nonzero_model()
    with pytest.raises(ExportError, match="output tensor 'y'.*still symbolic") as info:
        resolve_shapes(_zero_rows(model), 1)
    assert "'y'" in str(info.value)


def _zero_rows(model: onnx.ModelProto) -> onnx.ModelProto:
    """x * 0 before NonZero: every run gives a (1, 0) output, a size no circuit can have."""
    mul = helper.make_node("Mul", ["x", "zero"], ["x0"])
    model.graph.node[0].input[0] = "x0"
    model.graph.node.insert(0, mul)
    model.graph.initializer.append(helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]))
    return model


def test_only_the_batch_axis_of_an_input_may_be_symbolic() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "F"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "F"])],
    )
    with pytest.raises(ExportError, match="input 'x' has a symbolic dimension 'F' at axis 1"):
        resolve_shapes(helper.make_model(graph), 1)
