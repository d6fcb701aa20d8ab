"""Small ONNX graphs for the circom backend's tests, written with onnx.helper (no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SCALE = 13


def write_model(path: Path, nodes: list, inputs: int | list[int], outputs: int | list[int], weights: dict[str, np.ndarray]) -> Path:
    """A one-input one-output model; an int size means shape ``[1, size]``, a list is the full shape."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    initializers = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), name) for name, v in weights.items()]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, inputs] if isinstance(inputs, int) else inputs)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs] if isinstance(outputs, int) else outputs)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def tie_model(path: Path) -> Path:
    """y = x @ [0.5, -0.5]: every odd quantized x lands exactly on a rounding tie, of both signs."""
    from onnx import helper

    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    return write_model(path, [node], 1, 2, {"w": np.array([[0.5], [-0.5]]), "b": np.zeros(2)})


def biased_tie_model(path: Path, *, relu: bool) -> Path:
    """y = x @ [0.5, -0.5, ...] + small biases (+ ReLU): ties whose rounding changes sign once the bias is added.

    ezkl adds a Gemm's bias after the rebase, ``round(w.x / 2**s) + b``; for ``w.x / 2**s = -0.5``
    and ``b = 1`` that is 0, where ``round(w.x / 2**s + b)`` would be 1.
    """
    from onnx import helper

    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g" if relu else "y"], transB=1)]
    nodes += [helper.make_node("Relu", ["g"], ["y"])] if relu else []
    halves = np.array([[0.5], [-0.5], [0.5], [-0.5], [0.5], [-0.5]])
    biases = np.array([1, 1, -1, -1, 2, -3]) / 2.0**SCALE
    return write_model(path, nodes, 1, 6, {"w": halves, "b": biases})


def residual_model(path: Path, seed: int = 3) -> Path:
    """MatMul+Add(bias)+Relu, a Gemm+Relu, a residual Add, a Flatten and a last Gemm: 4 -> 3."""
    from onnx import helper

    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["m0"]),
        helper.make_node("Add", ["m0", "b0"], ["a0"]),
        helper.make_node("Relu", ["a0"], ["h0"]),
        helper.make_node("Gemm", ["h0", "w1", "b1"], ["g1"], transB=1),
        helper.make_node("Relu", ["g1"], ["h1"]),
        helper.make_node("Add", ["h0", "h1"], ["s"]),
        helper.make_node("Flatten", ["s"], ["f"]),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1),
    ]
    weights = {
        "w0": rng.normal(0, 0.7, (4, 5)),
        "b0": rng.normal(0, 0.3, 5),
        "w1": rng.normal(0, 0.7, (5, 5)),
        "b1": rng.normal(0, 0.3, 5),
        "w2": rng.normal(0, 0.7, (3, 5)),
        "b2": rng.normal(0, 0.3, 3),
    }
    return write_model(path, nodes, 4, 3, weights)


def conv2d_model(path: Path, seed: int = 5) -> Path:
    """Conv2d (stride 2, pad 1) + Relu, Conv2d (asymmetric pads, no bias), AveragePool 2x2, Flatten, Gemm: [1,2,7,7] -> 3."""
    from onnx import helper

    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Conv", ["x", "k0", "c0"], ["v0"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["v0"], ["h0"]),
        helper.make_node("Conv", ["h0", "k1"], ["v1"], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 0, 0, 0]),
        helper.make_node("AveragePool", ["v1"], ["p"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1),
    ]
    # v0: [3,4,4]; v1: [2,4,3]; p: [2,3,2]
    weights = {
        "k0": rng.normal(0, 0.5, (3, 2, 3, 3)),
        "c0": rng.normal(0, 0.3, 3),
        "k1": rng.normal(0, 0.5, (2, 3, 2, 2)),
        "w": rng.normal(0, 0.7, (3, 12)),
        "b": rng.normal(0, 0.3, 3),
    }
    return write_model(path, nodes, [1, 2, 7, 7], 3, weights)


def conv1d_model(path: Path, seed: int = 6) -> Path:
    """Conv1d (stride 2, pad 2) + Relu, AveragePool (kernel 2, stride 2, pad 1 counted), Flatten: [1,2,9] -> 12."""
    from onnx import helper

    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Conv", ["x", "k", "c"], ["v"], kernel_shape=[3], pads=[2, 2], strides=[2]),
        helper.make_node("Relu", ["v"], ["h"]),
        helper.make_node("AveragePool", ["h"], ["p"], kernel_shape=[2], strides=[2], pads=[1, 1], count_include_pad=1),
        helper.make_node("Flatten", ["p"], ["y"]),
    ]
    # v: [3,6]; p: [3,4]
    weights = {"k": rng.normal(0, 0.6, (3, 2, 3)), "c": rng.normal(0, 0.3, 3)}
    return write_model(path, nodes, [1, 2, 9], 12, weights)


def reshaped_conv1d_model(path: Path, seed: int = 7) -> Path:
    """A flat [1,18] input reshaped to [1,2,9] (a Constant shape), then :func:`conv1d_model`'s layers: the Conv's input
    shape is known only from ONNX shape inference."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    shape = numpy_helper.from_array(np.array([1, 2, 9], dtype=np.int64))
    nodes = [
        helper.make_node("Constant", [], ["s"], value=shape),
        helper.make_node("Reshape", ["x", "s"], ["r"]),
        helper.make_node("Conv", ["r", "k", "c"], ["v"], kernel_shape=[3], pads=[2, 2], strides=[2]),
        helper.make_node("Relu", ["v"], ["h"]),
        helper.make_node("AveragePool", ["h"], ["p"], kernel_shape=[2], strides=[2], pads=[1, 1], count_include_pad=1),
        helper.make_node("Flatten", ["p"], ["y"]),
    ]
    weights = {"k": rng.normal(0, 0.6, (3, 2, 3)), "c": rng.normal(0, 0.3, 3)}
    return write_model(path, nodes, 18, 12, weights)


def pool_model(path: Path, kernel: int, relu: bool) -> Path:
    """An AveragePool whose window is not a power of two (stride 1), then Relu when ``relu``: [1,2,12] -> [1,2,13-kernel]."""
    from onnx import helper

    nodes = [helper.make_node("AveragePool", ["x"], ["p" if relu else "y"], kernel_shape=[kernel], strides=[1])]
    nodes += [helper.make_node("Relu", ["p"], ["y"])] if relu else []
    return write_model(path, nodes, [1, 2, 12], [1, 2, 13 - kernel], {})


def ezkl_settings(onnx_path: Path, settings_path: Path, compiled_path: Path) -> None:
    """ezkl's settings and compiled circuit at input and param scale 13 (the halo2 path's arithmetic)."""
    from zkml import _ezkl

    args = _ezkl.run_args(
        input_scale=SCALE, param_scale=SCALE, input_visibility="public", output_visibility="public", param_visibility="fixed"
    )
    _ezkl.call("gen_settings", str(onnx_path), str(settings_path), py_run_args=args)
    _ezkl.call("compile_circuit", str(onnx_path), str(compiled_path), str(settings_path))


def ezkl_instances(compiled_path: Path, values: list[float], folder: Path) -> tuple[list[int], list[int]]:
    """ezkl's witness for one input: (inputs, outputs) as signed integers."""
    import json

    from zkml import _ezkl
    from zkml.circom.prove import from_field

    source, witness = folder / "in.json", folder / "witness.json"
    source.write_text(json.dumps({"input_data": [values]}))
    _ezkl.call("gen_witness", str(source), str(compiled_path), str(witness))
    data = json.loads(witness.read_text())

    def signed(column: list[str]) -> list[int]:
        return [from_field(int.from_bytes(bytes.fromhex(h), "little")) for h in column]

    return signed(data["inputs"][0]), signed(data["outputs"][0])
