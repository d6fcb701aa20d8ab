"""The circom batch circuit: B copies of the batch-1 circuit whose public signals are halo2's batched instances."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import SCALE, ezkl_instances, ezkl_settings, residual_model, tie_model
from zkml.circom.batch import batch_graph, batch_outputs, batch_source, compile_batch
from zkml.circom.graph import ScaleSettings, evaluate, quantize, read_graph
from zkml.errors import CircuitError

SCALES = ScaleSettings(SCALE, SCALE)


def _settings(folder: Path) -> Path:
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    return path


def _samples(count: int, width: int, seed: int = 11) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[quantize(v, SCALE) for v in row] for row in rng.normal(0, 1.5, (count, width))]


def test_the_batch_graph_is_the_samples_one_after_another(tmp_path: Path) -> None:
    single = read_graph(residual_model(tmp_path / "m.onnx"), SCALES)
    samples = _samples(3, single.input_size)
    batched = batch_graph(single, 3)
    assert (batched.input_size, batched.output_size) == (12, 9)
    flat = [v for sample in samples for v in sample]
    assert evaluate(batched, flat) == batch_outputs(single, samples)
    assert batch_outputs(single, samples)[3:6] == evaluate(single, samples[1])  # sample-major: sample 1 is the second block
    assert batch_graph(single, 1) is single
    with pytest.raises(CircuitError, match="batch size 0"):
        batch_graph(single, 0)


def test_the_source_instantiates_the_model_once_per_sample_under_one_main(tmp_path: Path) -> None:
    single = read_graph(residual_model(tmp_path / "m.onnx"), SCALES)
    source = batch_source(single, 5)
    assert source.count("component main ") == 1
    assert "component main {public [inputs, outputs]} = Batch(5);" in source
    assert "signal input inputs[B * 4];" in source and "signal input outputs[B * 3];" in source


def test_the_public_signals_are_ezkls_batched_instances_in_order(tmp_path: Path) -> None:
    """ezkl's witness of the unrolled batch-3 ONNX (as zkml's halo2 batch circuit builds it) against the batch circuit."""
    import onnx

    from zkml.export import export_model
    from zkml.proving.unroll import unroll_batch
    from zkml.shapes import resolve_shapes

    single_path = residual_model(tmp_path / "m.onnx")
    proto = onnx.load(str(single_path))
    # onnx.helper leaves nodes unnamed; unroll_batch names copies s<i>/<name or op type>, and two
    # unnamed Relus of one sample would then share a name, which ezkl's tract refuses.
    for index, node in enumerate(proto.graph.node):
        node.name = f"n{index}"
    resolve_shapes(proto, 1)
    batched_path = export_model(unroll_batch(proto, 3), tmp_path / "b3.onnx", batch_size=3).path
    ezkl_settings(batched_path, tmp_path / "settings.json", tmp_path / "b3.compiled")
    rng = np.random.default_rng(4)
    values = [float(v) for v in rng.normal(0, 1.5, 12)]
    halo2_inputs, halo2_outputs = ezkl_instances(tmp_path / "b3.compiled", values, tmp_path)
    single = read_graph(single_path, SCALES)
    quantized = [quantize(v, SCALE) for v in values]
    assert halo2_inputs == quantized  # all inputs, sample by sample
    assert halo2_outputs == list(evaluate(batch_graph(single, 3), quantized))  # then all outputs, sample by sample
    assert halo2_outputs == list(batch_outputs(single, [quantized[i : i + 4] for i in range(0, 12, 4)]))


def test_the_compiled_batch_has_b_times_the_constraints_and_the_batched_signals(tmp_path: Path) -> None:
    from zkml.circom.build import compile_model

    onnx_path, settings = tie_model(tmp_path / "t.onnx"), _settings(tmp_path)
    one = compile_model(onnx_path, settings, tmp_path / "one")
    three = compile_batch(onnx_path, settings, 3, tmp_path / "three")
    assert three.constraints == 3 * one.constraints
    assert three.public_signals == 3 * (1 + 2)
    assert three.graph.input_size == 3 and three.graph.output_size == 6


@pytest.mark.slow
def test_a_batch_groth16_proof_verifies_and_a_tampered_one_is_refused(tmp_path: Path, zkml_cache: Path) -> None:
    from zkml.circom.build import setup_groth16
    from zkml.circom.prove import from_field, prove, to_field, verify
    from zkml.errors import ProofError

    circuit = compile_batch(tie_model(tmp_path / "t.onnx"), _settings(tmp_path), 4, tmp_path / "b4")
    keys = setup_groth16(circuit)
    inputs = [to_field(v) for v in (3, -3, 5, 8)]  # odd inputs land on rounding ties of both signs
    proof = prove(circuit, keys, inputs, tmp_path / "proof")
    assert proof.outputs == (2, -2, -2, 2, 3, -3, 4, -4)  # round(x/2) half away from zero, sample by sample
    assert [from_field(v) for v in proof.instances] == [3, -3, 5, 8, *proof.outputs]
    assert verify(keys, tmp_path / "proof")

    shutil.copytree(tmp_path / "proof", tmp_path / "tampered")
    public = json.loads((tmp_path / "tampered" / "public.json").read_text())
    public[-1] = str(to_field(-5))  # the last sample's second output
    (tmp_path / "tampered" / "public.json").write_text(json.dumps(public))
    assert not verify(keys, tmp_path / "tampered")

    from zkml.circom.prove import write_witness

    with pytest.raises(ProofError):  # the circuit refuses outputs that are not its own
        write_witness(circuit, inputs, tmp_path / "lie", claimed_outputs=[2, -2, -2, 2, 3, -3, 4, -3])


def test_lookups_batch_elementwise() -> None:
    from zkml.circom.graph import QuantizedGraph
    from zkml.circom.lookups import Lookup

    single = QuantizedGraph("x", "y", 2, 2, SCALE, SCALE, (Lookup("x", "y", "sigmoid", SCALE, 2),))
    samples = _samples(3, 2)
    batched = batch_graph(single, 3)
    assert evaluate(batched, [v for sample in samples for v in sample]) == batch_outputs(single, samples)


def _softmax_after_gemm(path: Path) -> Path:
    from onnx import helper

    from tests.circom.models import write_model

    rng = np.random.default_rng(9)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1), helper.make_node("Softmax", ["g"], ["y"], axis=1)]
    return write_model(path, nodes, 4, 3, {"w": rng.normal(0, 1.5, (3, 4)), "b": rng.normal(0, 0.5, 3)})


@pytest.mark.parametrize("make", ["tree", "affine", "softmax"])
def test_element_wise_and_softmax_steps_batch_as_the_compiled_batch_circuit_computes(make: str, tmp_path: Path) -> None:
    """The batch graph of a tree (Linear, comparisons, Relu), a BatchNormalization and a Softmax: its outputs are the
    samples' one after another, and the compiled batch-3 circuit (3 instances of the batch-1 template) takes them."""
    from tests.circom.test_elementwise import affine_model, tree_model
    from zkml.circom.prove import to_field, write_witness
    from zkml.errors import ProofError

    scale = 7 if make == "softmax" else SCALE  # a 129-level Exp table compiles in about a second
    onnx_path = {"tree": tree_model, "affine": affine_model, "softmax": _softmax_after_gemm}[make](tmp_path / "m.onnx")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"run_args": {"input_scale": scale, "param_scale": scale, "scale_rebase_multiplier": 1}}))
    single = read_graph(onnx_path, ScaleSettings(scale, scale))
    rng = np.random.default_rng(5)
    samples = [[quantize(v, scale) for v in row] for row in rng.normal(0, 1.2, (3, single.input_size))]
    flat = [v for sample in samples for v in sample]
    batched = batch_graph(single, 3)
    assert evaluate(batched, flat) == batch_outputs(single, samples)
    circuit = compile_batch(onnx_path, settings, 3, tmp_path / "b3")
    _, outputs = write_witness(circuit, [to_field(v) for v in flat], tmp_path / "witness")
    assert outputs == batch_outputs(single, samples)
    wrong = (*outputs[:-1], outputs[-1] + 1)  # the last sample's last output, one off
    with pytest.raises(ProofError, match="computing the witness failed"):
        write_witness(circuit, [to_field(v) for v in flat], tmp_path / "lie", claimed_outputs=wrong)
