"""Models with several inputs and outputs on the circom path: ezkl's instance order, its witness and the circuit's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import SCALE, ezkl_settings
from zkml.circom.graph import ScaleSettings, evaluate, quantize, read_graph
from zkml.errors import CircuitError


def write_multi_io(path: Path, nodes: list, inputs: dict[str, int], outputs: dict[str, int], weights: dict[str, np.ndarray]) -> Path:
    """A model with the named ``[1, n]`` inputs and outputs, in the order given."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, n]) for name, n in inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, n]) for name, n in outputs.items()],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), name) for name, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def two_in_two_out(path: Path, seed: int = 11) -> Path:
    """Inputs x[3], z[2]; outputs y[2] then h[2] (not in the order computed).

    ``h`` is a Gemm's output read again by a Relu (which would otherwise fuse into the Gemm) and
    ``z`` feeds both a Gemm and a Relu: ``y = relu(h) + gemm(z) + relu(z)``.
    """
    from onnx import helper

    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["z", "w1", "b1"], ["g"], transB=1),
        helper.make_node("Relu", ["z"], ["zr"]),
        helper.make_node("Add", ["hr", "g"], ["s"]),
        helper.make_node("Add", ["s", "zr"], ["y"]),
    ]
    weights = {"w0": rng.normal(0, 0.7, (2, 3)), "b0": rng.normal(0, 0.3, 2), "w1": rng.normal(0, 0.7, (2, 2)), "b1": rng.normal(0, 0.3, 2)}
    return write_multi_io(path, nodes, {"x": 3, "z": 2}, {"y": 2, "h": 2}, weights)


def _settings(folder: Path) -> Path:
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    return path


def _ezkl_instances(compiled: Path, values: list[list[float]], folder: Path) -> tuple[list[int], list[int]]:
    """ezkl's witness for one sample of every input: (inputs, outputs), each tensor flattened in graph order, as signed integers."""
    from zkml import _ezkl
    from zkml.circom.prove import from_field

    source, witness = folder / "in.json", folder / "witness.json"
    source.write_text(json.dumps({"input_data": values}))
    _ezkl.call("gen_witness", str(source), str(compiled), str(witness))
    data = json.loads(witness.read_text())
    signed = [[from_field(int.from_bytes(bytes.fromhex(h), "little")) for h in column] for column in (*data["inputs"], *data["outputs"])]
    inputs = [v for column in signed[: len(values)] for v in column]
    return inputs, [v for column in signed[len(values) :] for v in column]


def test_evaluate_equals_ezkls_witness_with_two_inputs_and_two_outputs(tmp_path: Path) -> None:
    onnx_path = two_in_two_out(tmp_path / "m.onnx")
    settings, compiled = tmp_path / "settings.json", tmp_path / "model.compiled"
    ezkl_settings(onnx_path, settings, compiled)
    graph = read_graph(onnx_path, ScaleSettings.read(settings))
    assert (graph.inputs, graph.outputs, graph.input_size, graph.output_size) == ((("x", 3), ("z", 2)), (("y", 2), ("h", 2)), 5, 4)
    rng = np.random.default_rng(1)
    for _ in range(6):
        values = [rng.normal(0, 1.5, 3).tolist(), rng.normal(0, 1.5, 2).tolist()]
        inputs, outputs = _ezkl_instances(compiled, values, tmp_path)
        assert inputs == [quantize(v, SCALE) for tensor in values for v in tensor]
        assert list(evaluate(graph, inputs)) == outputs, values


def test_the_circuit_publishes_every_input_then_every_output_and_computes_the_graph(tmp_path: Path) -> None:
    from zkml.circom.build import compile_model, r1cs_counts
    from zkml.circom.prove import to_field, write_witness

    circuit = compile_model(two_in_two_out(tmp_path / "m.onnx"), _settings(tmp_path), tmp_path / "circom")
    assert r1cs_counts(circuit.r1cs)[1] == 9
    rng = np.random.default_rng(2)
    for index in range(3):
        inputs = [quantize(v, SCALE) for v in rng.normal(0, 1.5, 5)]
        _, outputs = write_witness(circuit, [to_field(v) for v in inputs], tmp_path / str(index))
        assert outputs == evaluate(circuit.graph, inputs)


def test_an_output_at_another_scale_than_the_input_is_refused_by_name(tmp_path: Path) -> None:
    from onnx import helper

    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1), helper.make_node("Less", ["x", "t"], ["flag"])]
    weights = {"w": np.ones((2, 3)), "b": np.zeros(2), "t": np.zeros((1, 3))}
    onnx_path = write_multi_io(tmp_path / "m.onnx", nodes, {"x": 3}, {"y": 2, "flag": 3}, weights)
    with pytest.raises(CircuitError, match="output is at scale 0.*'flag'"):
        read_graph(onnx_path, ScaleSettings(SCALE, SCALE))


def test_a_batch_of_a_model_with_several_inputs_is_refused(tmp_path: Path) -> None:
    """ezkl lays a batch out tensor by tensor; the batch circuit wires samples one after another."""
    from zkml.circom.batch import batch_graph, batch_source

    graph = read_graph(two_in_two_out(tmp_path / "m.onnx"), ScaleSettings(SCALE, SCALE))
    assert batch_graph(graph, 1) is graph
    for make in (batch_graph, batch_source):
        with pytest.raises(CircuitError, match="one input and one output tensor, not 2 and 2"):
            make(graph, 2)


def test_the_size_estimate_counts_standalone_relus(tmp_path: Path) -> None:
    from onnx import helper

    from zkml.circom.codegen import VALUE_BITS
    from zkml.circom.graph import Dense, ReluOp
    from zkml.circom.support import groth16_verdict

    onnx_path = two_in_two_out(tmp_path / "m.onnx")
    graph = read_graph(onnx_path, ScaleSettings(SCALE, SCALE))
    assert [(s.src, s.dst) for s in graph.steps if isinstance(s, ReluOp)] == [("h", "hr"), ("z", "zr")]  # h is published: not fused
    estimate = groth16_verdict(onnx_path, ScaleSettings(SCALE, SCALE)).details["constraints_estimate"]
    rescales = sum(len(s.bias) * (SCALE + VALUE_BITS + 5) for s in graph.steps if isinstance(s, Dense))
    assert estimate == rescales + 4 * (VALUE_BITS + 2) + graph.output_size
    relus_only = write_multi_io(tmp_path / "r.onnx", [helper.make_node("Relu", ["x"], ["y"])], {"x": 4}, {"y": 4}, {})
    assert groth16_verdict(relus_only, ScaleSettings(SCALE, SCALE)).details["constraints_estimate"] == 4 * (VALUE_BITS + 3)


def test_torch_multi_io_op17_is_taken_by_the_circom_path(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.corpus.models import by_name
    from zkml.circom.support import groth16_verdict

    onnx_path, _ = by_name("torch_multi_io_op17").write(tmp_path / "multi_io")
    verdict = groth16_verdict(onnx_path, ScaleSettings(SCALE, SCALE))
    assert verdict.ok, verdict.reason
    assert verdict.details["public_signals"] == 3 + 2 + 2 + 1


@pytest.mark.slow
def test_a_groth16_proof_of_torch_multi_io_op17_publishes_ezkls_instances(tmp_path: Path) -> None:
    """The proof's public signals are ezkl's instances (each input, then each output), which zkml's decoder splits per tensor."""
    pytest.importorskip("torch")
    from tests.corpus.models import by_name
    from zkml.circom.build import compile_model, setup_keys
    from zkml.circom.prove import prove, to_field, verify
    from zkml.evm.onchain import decode_instances

    onnx_path, input_path = by_name("torch_multi_io_op17").write(tmp_path / "multi_io")
    settings, compiled = tmp_path / "settings.json", tmp_path / "model.compiled"
    ezkl_settings(onnx_path, settings, compiled)
    inputs, outputs = _ezkl_instances(compiled, json.loads(input_path.read_text())["input_data"], tmp_path)
    circuit = compile_model(onnx_path, settings, tmp_path / "circom")
    keys = setup_keys(circuit, "groth16")
    proof = prove(circuit, keys, [to_field(v) for v in inputs], tmp_path / "proof")
    assert proof.instances == tuple(to_field(v) for v in [*inputs, *outputs])
    assert verify(keys, tmp_path / "proof")
    decoded = decode_instances(proof.instances, settings)
    assert [len(t) for t in decoded.inputs] == [3, 2] and [len(t) for t in decoded.outputs] == [2, 1]
    assert [v * 2**SCALE for t in decoded.outputs for v in t] == outputs
