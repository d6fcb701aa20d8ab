"""Small ONNX graphs for the circom backend's tests, written with onnx.helper (no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SCALE = 13


def write_model(path: Path, nodes: list, inputs: int, outputs: int, weights: dict[str, np.ndarray]) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    initializers = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), name) for name, v in weights.items()]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs])],
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
