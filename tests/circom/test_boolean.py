"""Not, Or, And, Xor of comparisons on the circom path: ezkl's integers, the circuit's, and the exported float_equal_op10."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import SCALE, ezkl_instances, ezkl_settings, write_model
from zkml.circom.build import compile_model
from zkml.circom.elementwise import Logic
from zkml.circom.graph import ScaleSettings, evaluate, quantize, read_graph
from zkml.circom.prove import to_field, write_witness
from zkml.errors import CircuitError, ProofError

SCALES = ScaleSettings(SCALE, SCALE)
# Per element (lower, upper): a band, an empty band (both comparisons false between them), a point, a wide band.
BOUNDS = ((-0.5, 0.5), (0.5, -0.5), (0.25, 0.25), (-1.0, 1.5))


def boolean_model(path: Path, op: str) -> Path:
    """y = x + Cast(op(x > lower, x < upper)) (Not: of x > lower): the 0/1 aligned up to the activation scale."""
    from onnx import TensorProto, helper

    operands = ["above"] if op == "Not" else ["above", "below"]
    nodes = [
        helper.make_node("Greater", ["x", "lower"], ["above"]),
        helper.make_node("Less", ["x", "upper"], ["below"]),
        helper.make_node(op, operands, ["flag"]),
        helper.make_node("Cast", ["flag"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "f"], ["y"]),
    ]
    lower, upper = (np.array([b[i] for b in BOUNDS]) for i in (0, 1))
    return write_model(path, nodes, 4, 4, {"lower": lower, "upper": upper})


def mixed_model(path: Path) -> Path:
    """All four chained: y = x + Cast(Xor(Not(And(above, below)), Or(Not(above), below)))."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Greater", ["x", "lower"], ["above"]),
        helper.make_node("Less", ["x", "upper"], ["below"]),
        helper.make_node("And", ["above", "below"], ["band"]),
        helper.make_node("Not", ["band"], ["outside"]),
        helper.make_node("Not", ["above"], ["not_above"]),
        helper.make_node("Or", ["not_above", "below"], ["either"]),
        helper.make_node("Xor", ["outside", "either"], ["flag"]),
        helper.make_node("Cast", ["flag"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "f"], ["y"]),
    ]
    lower, upper = (np.array([b[i] for b in BOUNDS]) for i in (0, 1))
    return write_model(path, nodes, 4, 4, {"lower": lower, "upper": upper})


def exported_float_equal(folder: Path) -> Path:
    """The corpus' float_equal_op10 as ``zkml`` exports it: Equal rewritten to Not(Or(Less, Greater)), opset 10."""
    from tests.corpus.models import by_name
    from zkml.config import config_for_onnx
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    onnx_path, input_path = by_name("float_equal_op10").write(folder / "raw")
    config = config_for_onnx(onnx_path.resolve(), input_path=input_path.resolve())
    return Path(Pipeline(config, Workspace(folder / "ws")).export().path)


def _samples() -> list[list[float]]:
    """Inputs on, one step above and one below every bound, and random ones: every combination of the two 0/1s."""
    step = 2.0**-SCALE
    chosen = [[(quantize(b[side], SCALE) + d) * step for b in BOUNDS] for side in (0, 1) for d in (0, 1, -1)]
    return chosen + np.random.default_rng(5).normal(0, 1.2, (4, 4)).tolist()


def _ezkl_matches(onnx_path: Path, folder: Path, samples: list[list[float]]) -> None:
    settings, compiled = folder / "settings.json", folder / "model.compiled"
    ezkl_settings(onnx_path, settings, compiled)
    graph = read_graph(onnx_path, ScaleSettings.read(settings))
    for values in samples:
        inputs, outputs = ezkl_instances(compiled, values, folder)
        assert inputs == [quantize(v, SCALE) for v in values]
        assert list(evaluate(graph, inputs)) == outputs, values


@pytest.mark.parametrize("op", ["Not", "Or", "And", "Xor", "mixed"])
def test_evaluate_equals_ezkls_witness(op: str, tmp_path: Path) -> None:
    path = mixed_model(tmp_path / "m.onnx") if op == "mixed" else boolean_model(tmp_path / "b.onnx", op)
    logic = [s.op for s in read_graph(path, SCALES).steps if isinstance(s, Logic)]
    assert logic == (["And", "Not", "Not", "Or", "Xor"] if op == "mixed" else [op])
    _ezkl_matches(path, tmp_path, _samples())


def test_the_exported_float_equal_is_read_and_matches_ezkl(tmp_path: Path) -> None:
    path = exported_float_equal(tmp_path)
    graph = read_graph(path, SCALES)
    assert [s.op for s in graph.steps if isinstance(s, Logic)] == ["Or", "Not"]
    # x == 0 sets the mask (adds 1 at the activation scale, 2**13); 1.0 and -2.0 pass unchanged.
    inputs = [quantize(v, SCALE) for v in (0.0, 1.0, -2.0, 0.0)]
    assert evaluate(graph, inputs) == (1 << SCALE, 1 << SCALE, -2 << SCALE, 1 << SCALE)
    step = 2.0**-SCALE
    _ezkl_matches(path, tmp_path, [[0.0, 1.0, -2.0, 0.0], [step, -step, 0.0, 3 * step], [0.3, 0.0, -0.7, -step]])


def test_groth16_verdict_takes_the_exported_float_equal(tmp_path: Path) -> None:
    from zkml.circom.support import groth16_verdict

    verdict = groth16_verdict(exported_float_equal(tmp_path), SCALES)
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("name", ["float_equal", "mixed"])
def test_the_circuit_agrees_with_evaluate_and_refuses_a_flipped_flag(name: str, tmp_path: Path) -> None:
    """Compiled (exported float_equal_op10; all four ops chained): the witness's outputs are evaluate()'s; a flipped 0/1 is refused."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    onnx_path = exported_float_equal(tmp_path) if name == "float_equal" else mixed_model(tmp_path / "m.onnx")
    circuit = compile_model(onnx_path, settings, tmp_path / "circuit")
    samples = [[0.0, 1.0, -2.0, 0.0]] + _samples()[:6]
    for index, values in enumerate(samples):
        inputs = [quantize(v, SCALE) for v in values]
        _, outputs = write_witness(circuit, [to_field(v) for v in inputs], tmp_path / str(index))
        assert outputs == evaluate(circuit.graph, inputs), values
    inputs = [quantize(v, SCALE) for v in samples[0]]
    honest = evaluate(circuit.graph, inputs)
    flipped = honest[0] + (1 << SCALE if honest[0] == inputs[0] else -(1 << SCALE))
    with pytest.raises(ProofError, match="computing the witness failed"):
        write_witness(circuit, [to_field(v) for v in inputs], tmp_path / "wrong", claimed_outputs=(flipped, *honest[1:]))


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([("Not", ["b"], ["flag"])], "Not 'flag': the circom backend takes Not only on 0/1s computed by a comparison, not 'b'"),
        ([("Greater", ["x", "t"], ["above"]), ("Or", ["above", "b"], ["flag"])], "takes Or only on 0/1s computed by a comparison, not 'b'"),
    ],
    ids=["not-of-an-input", "or-with-an-input"],
)
def test_a_boolean_op_on_a_non_boolean_is_refused_by_name(nodes: list, message: str, tmp_path: Path) -> None:
    """A Not/Or of a value the circuit does not constrain to 0/1 (a boolean model input) would be unsound: refused."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    made = [helper.make_node(op, inputs, outputs, name=outputs[0]) for op, inputs, outputs in nodes]
    made += [helper.make_node("Cast", ["flag"], ["f"], to=TensorProto.FLOAT), helper.make_node("Add", ["x", "f"], ["y"])]
    graph = helper.make_graph(
        made,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]), helper.make_tensor_value_info("b", TensorProto.BOOL, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.zeros(4, np.float32), "t")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(tmp_path / "r.onnx"))
    with pytest.raises(CircuitError, match=message):
        read_graph(tmp_path / "r.onnx", SCALES)
