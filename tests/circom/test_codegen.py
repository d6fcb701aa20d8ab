"""The generated circom circuit computes the quantized graph: circom's own witness generator agrees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import SCALE, biased_tie_model, conv2d_model, pool_model, residual_model, tie_model
from zkml.circom.build import CircomCircuit, compile_model, r1cs_counts
from zkml.circom.codegen import circom_source
from zkml.circom.graph import ScaleSettings, evaluate, quantize, read_graph
from zkml.circom.prove import from_field, to_field, write_witness
from zkml.errors import ProofError


def _settings(folder: Path) -> Path:
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    return path


@pytest.fixture(scope="module")
def residual(tmp_path_factory: pytest.TempPathFactory) -> CircomCircuit:
    folder = tmp_path_factory.mktemp("residual")
    return compile_model(residual_model(folder / "m.onnx"), _settings(folder), folder / "circom")


def _wtns_outputs(wtns: Path, count: int, inputs: int) -> list[int]:
    """The output signals of a .wtns file: wire 0 is the constant 1, then the public inputs then outputs."""
    import struct

    data = wtns.read_bytes()
    offset, values = 12, []
    for _ in range(struct.unpack_from("<I", data, 8)[0]):
        kind, size = struct.unpack_from("<IQ", data, offset)
        offset += 12
        if kind == 2:
            values = [int.from_bytes(data[offset + 32 * i : offset + 32 * (i + 1)], "little") for i in range(1 + inputs + count)]
        offset += size
    return [from_field(v) for v in values[1 + inputs :]]


def test_the_public_signals_are_the_inputs_then_the_outputs(tmp_path: Path) -> None:
    source = circom_source(read_graph(tie_model(tmp_path / "t.onnx"), ScaleSettings(SCALE, SCALE)))
    assert "signal input inputs[1];" in source and "signal input outputs[2];" in source
    assert source.rstrip().endswith("component main {public [inputs, outputs]} = Model();")


def test_the_circuit_agrees_with_the_graph_on_rounding_ties(tmp_path: Path) -> None:
    onnx_path = tie_model(tmp_path / "t.onnx")
    circuit = compile_model(onnx_path, _settings(tmp_path), tmp_path / "circom")
    assert r1cs_counts(circuit.r1cs) == (circuit.constraints, 3)
    for t in (-3, -1, 1, 3):
        wtns, outputs = write_witness(circuit, [to_field(t)], tmp_path / f"w{t}")
        assert outputs == ((t + (1 if t > 0 else -1)) // 2, -((t + (1 if t > 0 else -1)) // 2))  # half away from zero
        assert _wtns_outputs(wtns, 2, 1) == list(outputs)


@pytest.mark.parametrize("relu", [False, True], ids=["gemm", "gemm+relu"])
def test_the_circuit_adds_a_gemm_bias_after_the_rebase(relu: bool, tmp_path: Path) -> None:
    from zkml.circom.graph import evaluate

    circuit = compile_model(biased_tie_model(tmp_path / "t.onnx", relu=relu), _settings(tmp_path), tmp_path / "circom")
    for t in (-7, -3, -1, 1, 3):
        wtns, outputs = write_witness(circuit, [to_field(t)], tmp_path / f"w{t}")
        assert list(outputs) == list(evaluate(circuit.graph, [t])) == _wtns_outputs(wtns, 6, 1)


def test_the_circuit_agrees_with_the_graph_on_random_inputs(residual: CircomCircuit, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for index, values in enumerate(rng.normal(0, 1.5, (4, 4)).tolist()):
        inputs = [to_field(quantize(v, SCALE)) for v in values]
        _, outputs = write_witness(residual, inputs, tmp_path / str(index))
        assert outputs == evaluate(residual.graph, [quantize(v, SCALE) for v in values])


def test_the_circuit_refuses_an_output_it_did_not_compute(residual: CircomCircuit, tmp_path: Path) -> None:
    inputs = [quantize(v, SCALE) for v in (0.3, -1.2, 0.8, 0.1)]
    honest = evaluate(residual.graph, inputs)
    wrong = (honest[0] + 1, *honest[1:])
    with pytest.raises(ProofError, match="computing the witness failed"):
        write_witness(residual, [to_field(v) for v in inputs], tmp_path, claimed_outputs=wrong)


@pytest.mark.parametrize(
    "make",
    [conv2d_model, lambda p: pool_model(p, 6, False), lambda p: pool_model(p, 3, True)],
    ids=["conv2d", "pool-of-6", "pool-of-3-relu"],  # conv1d: the slow Groth16 test proves it
)
def test_the_circuit_agrees_with_the_graph_through_conv_and_average_pool(make, tmp_path: Path) -> None:
    circuit = compile_model(make(tmp_path / "m.onnx"), _settings(tmp_path), tmp_path / "circom")
    rng = np.random.default_rng(7)
    for index in range(3):
        values = rng.normal(0, 1.5, circuit.graph.input_size).tolist()
        _, outputs = write_witness(circuit, [to_field(quantize(v, SCALE)) for v in values], tmp_path / str(index))
        assert outputs == evaluate(circuit.graph, [quantize(v, SCALE) for v in values])
