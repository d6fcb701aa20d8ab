"""The quantized graph: ezkl's integer rules, checked against ezkl's own witness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import (
    SCALE,
    biased_tie_model,
    conv1d_model,
    conv2d_model,
    ezkl_instances,
    ezkl_settings,
    pool_model,
    reshaped_conv1d_model,
    residual_model,
    tie_model,
    write_model,
)
from zkml.circom.graph import AddOp, Dense, ScaleSettings, evaluate, quantize, read_graph, rescale
from zkml.errors import CircuitError

SCALES = ScaleSettings(SCALE, SCALE)


def test_quantize_rounds_half_away_from_zero() -> None:
    step = 2.0**-SCALE
    assert [quantize(v * step, SCALE) for v in (0.5, 1.5, 2.5, -0.5, -1.5, -2.5)] == [1, 2, 3, -1, -2, -3]
    assert quantize(-0.9288330078125, SCALE) == -7609


def test_rescale_rounds_half_away_from_zero() -> None:
    half = 1 << (SCALE - 1)
    assert [rescale(v, SCALE) for v in (half, -half, 3 * half, -3 * half, half - 1, -half + 1)] == [1, -1, 2, -2, 0, 0]


def test_read_graph_fuses_bias_and_relu_and_keeps_the_residual_add(tmp_path: Path) -> None:
    graph = read_graph(residual_model(tmp_path / "m.onnx"), SCALES)
    kinds = [type(step) for step in graph.steps]
    assert kinds == [Dense, Dense, AddOp, Dense]
    first, second, add, last = graph.steps
    assert isinstance(first, Dense) and first.relu and len(first.weight) == 5 and len(first.weight[0]) == 4
    assert isinstance(second, Dense) and second.relu and second.src == first.dst
    assert isinstance(add, AddOp) and {add.a, add.b} == {first.dst, second.dst}
    assert isinstance(last, Dense) and not last.relu and last.src == add.dst and graph.output == last.dst
    assert (graph.input_size, graph.output_size, graph.rescales) == (4, 3, 13)
    # A Gemm's bias is added after the rebase, at the param (== activation) scale.
    assert first.bias_after_rebase and last.bias_after_rebase and any(first.bias)


def test_an_unsupported_op_is_named(tmp_path: Path) -> None:
    from onnx import helper

    path = write_model(tmp_path / "s.onnx", [helper.make_node("Exp", ["x"], ["y"])], 2, 2, {})
    with pytest.raises(CircuitError, match="Exp"):
        read_graph(path, SCALES)


def test_scales_it_cannot_mirror_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CircuitError, match="input_scale == param_scale"):
        read_graph(tie_model(tmp_path / "t.onnx"), ScaleSettings(7, 13))


@pytest.mark.parametrize("make", [tie_model, residual_model], ids=["ties", "residual"])
def test_evaluate_equals_ezkls_witness(make, tmp_path: Path) -> None:
    onnx_path = make(tmp_path / "m.onnx")
    settings, compiled = tmp_path / "settings.json", tmp_path / "model.compiled"
    ezkl_settings(onnx_path, settings, compiled)
    graph = read_graph(onnx_path, ScaleSettings.read(settings))
    rng = np.random.default_rng(0)
    samples = [[t / 2**SCALE] for t in (-5, -3, -1, 1, 3, 5)] if make is tie_model else rng.normal(0, 1.5, (12, 4)).tolist()
    for values in samples:
        inputs, outputs = ezkl_instances(compiled, values, tmp_path)
        assert inputs == [quantize(v, SCALE) for v in values]
        assert list(evaluate(graph, inputs)) == outputs, values


@pytest.mark.parametrize("relu", [False, True], ids=["gemm", "gemm+relu"])
def test_a_gemm_bias_is_added_after_the_rebase_as_ezkl_does(relu: bool, tmp_path: Path) -> None:
    onnx_path = biased_tie_model(tmp_path / "m.onnx", relu=relu)
    settings, compiled = tmp_path / "settings.json", tmp_path / "model.compiled"
    ezkl_settings(onnx_path, settings, compiled)
    graph = read_graph(onnx_path, ScaleSettings.read(settings))
    differs = 0
    for t in range(-7, 8, 2):  # odd: every product lands on a tie
        inputs, outputs = ezkl_instances(compiled, [t / 2**SCALE], tmp_path)
        assert list(evaluate(graph, inputs)) == outputs, t
        inside = [rescale(w[0] * t + (b << SCALE), SCALE) for w, b in zip(graph.steps[0].weight, graph.steps[0].bias, strict=True)]
        differs += [max(v, 0) if relu else v for v in inside] != outputs
    assert differs  # the bias-inside rule would have missed some of these


def test_a_dense_layer_over_a_reshaped_matrix_is_refused(tmp_path: Path) -> None:
    from onnx import helper

    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])]
    path = write_model(tmp_path / "r.onnx", nodes, 4, 6, {"shape": np.array([2, 2]), "w": np.ones((2, 3))})
    with pytest.raises(CircuitError, match="do not take the 4-element vector"):
        read_graph(path, SCALES)


def test_a_cast_to_float_passes_through_and_other_casts_are_refused(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    def model(to: int) -> Path:
        nodes = [helper.make_node("Cast", ["x"], ["c"], to=to), helper.make_node("Gemm", ["c", "w", "b"], ["y"], transB=1)]
        return write_model(tmp_path / f"cast{to}.onnx", nodes, 2, 1, {"w": np.array([[0.5, 0.25]]), "b": np.zeros(1)})

    graph = read_graph(model(TensorProto.FLOAT), SCALES)  # skl2onnx's input cast
    assert [type(s) for s in graph.steps] == [Dense] and graph.steps[0].src == graph.input
    with pytest.raises(CircuitError, match="does not take Cast"):
        read_graph(model(TensorProto.INT64), SCALES)


@pytest.mark.parametrize(
    "make",
    [
        conv2d_model,
        conv1d_model,
        reshaped_conv1d_model,
        lambda p: pool_model(p, 3, False),
        lambda p: pool_model(p, 6, True),
        lambda p: pool_model(p, 6, False),
    ],
    ids=["conv2d", "conv1d", "conv1d-after-reshape", "pool-of-3", "pool-of-6-relu", "pool-of-6"],
)
def test_conv_and_average_pool_evaluate_equal_ezkls_witness(make, tmp_path: Path) -> None:
    onnx_path = make(tmp_path / "m.onnx")
    settings, compiled = tmp_path / "settings.json", tmp_path / "model.compiled"
    ezkl_settings(onnx_path, settings, compiled)
    graph = read_graph(onnx_path, ScaleSettings.read(settings))
    assert all(isinstance(step, Dense) for step in graph.steps)
    assert (graph.input_size, graph.output_size) in ((98, 3), (18, 12), (24, 20), (24, 14))
    rng = np.random.default_rng(1)
    for _ in range(6):
        values = rng.normal(0, 1.5, graph.input_size).tolist()
        inputs, outputs = ezkl_instances(compiled, values, tmp_path)
        assert inputs == [quantize(v, SCALE) for v in values]
        assert list(evaluate(graph, inputs)) == outputs, values


@pytest.mark.parametrize(
    ("node_args", "kernel", "message"),
    [
        ({"op_type": "Conv", "inputs": ["x", "k"], "kernel_shape": [2], "group": 2}, (2, 1, 2), "group=1"),
        ({"op_type": "Conv", "inputs": ["x", "k"], "kernel_shape": [2], "dilations": [2]}, (2, 2, 2), "unit dilations"),
        ({"op_type": "AveragePool", "inputs": ["x"], "kernel_shape": [1]}, None, "over 2\\+ elements"),
        ({"op_type": "AveragePool", "inputs": ["x"], "kernel_shape": [2], "pads": [1, 1]}, None, "padding left out"),
    ],
    ids=["grouped", "dilated", "pool-of-1", "pool-pads-not-counted"],
)
def test_window_layers_it_cannot_mirror_are_refused_by_name(node_args: dict, kernel: tuple | None, message: str, tmp_path: Path) -> None:
    from onnx import helper

    args = dict(node_args)
    node = helper.make_node(args.pop("op_type"), args.pop("inputs"), ["y"], **args)
    weights = {} if kernel is None else {"k": np.ones(kernel)}
    path = write_model(tmp_path / "w.onnx", [node], [1, 2, 6], 4, weights)
    with pytest.raises(CircuitError, match=message):
        read_graph(path, SCALES)
