"""Element-wise ops, linear maps by constants, comparisons and constant folding: ezkl's integers, and the circuit's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import SCALE, ezkl_instances, ezkl_settings, write_model
from zkml.circom.build import CircomCircuit, compile_model
from zkml.circom.elementwise import Combine, Compare, Linear, quantize_array, round_div
from zkml.circom.graph import Dense, ScaleSettings, evaluate, quantize, read_graph
from zkml.circom.prove import to_field, write_witness
from zkml.errors import CircuitError, ProofError

SCALES = ScaleSettings(SCALE, SCALE)
STEP = 2.0**-SCALE


def affine_model(path: Path) -> Path:
    """Mul, Sub (constant first), Div, Add and BatchNormalization by constants: [1,4] -> [1,4]."""
    from onnx import helper

    rng = np.random.default_rng(11)
    nodes = [
        helper.make_node("Mul", ["x", "c"], ["m"]),
        helper.make_node("Sub", ["k", "m"], ["s"]),
        helper.make_node("Div", ["s", "d"], ["q"]),
        helper.make_node("Add", ["q", "e"], ["a"]),
        helper.make_node("BatchNormalization", ["a", "gm", "bt", "mu", "var"], ["y"], epsilon=1e-5),
    ]
    weights = {
        "c": np.array([0.5, -0.75, 1.3, 0.37]),
        "k": rng.normal(0, 1, 4),
        "d": np.array([3.0, -1.7, 0.6, 2.5]),
        "e": rng.normal(0, 1, 4),
        "gm": rng.normal(1, 0.5, 4),
        "bt": rng.normal(0, 0.5, 4),
        "mu": rng.normal(0, 0.5, 4),
        "var": rng.uniform(0.3, 2, 4),
    }
    return write_model(path, nodes, 4, 4, weights)


def tree_model(path: Path) -> Path:
    """A tree ensemble as hummingbird writes it: select features (Gemm with a constant first), compare with
    thresholds (LessOrEqual -> Cast: 0/1 at scale 0), pick leaves (MatMul of a constant by the 0/1s, Sub,
    Add, Relu), weight them (batched MatMul), ReduceSum over trees and Transpose: [1,4] -> [1,2]."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(12)
    selector = np.eye(4)[rng.integers(0, 4, 6)]  # 6 nodes, one feature each
    nodes = [
        helper.make_node("Gemm", ["w1", "x"], ["g"], transB=1, beta=0.0),
        helper.make_node("LessOrEqual", ["g", "t"], ["le"]),
        helper.make_node("Cast", ["le"], ["c"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["c", "shape1"], ["r1"]),
        helper.make_node("MatMul", ["w2", "r1"], ["m2"]),
        helper.make_node("Reshape", ["m2", "shape2"], ["r2"]),
        helper.make_node("Sub", ["r2", "b2"], ["s2"]),
        helper.make_node("Add", ["s2", "one"], ["a2"]),
        helper.make_node("Relu", ["a2"], ["h"]),
        helper.make_node("Reshape", ["h", "shape3"], ["r3"]),
        helper.make_node("MatMul", ["w3", "r3"], ["m3"]),
        helper.make_node("Reshape", ["m3", "shape4"], ["r4"]),
        helper.make_node("ReduceSum", ["r4", "axes"], ["sum"], keepdims=0),
        helper.make_node("Transpose", ["sum"], ["y"], perm=[1, 0]),
    ]
    weights = {
        "w1": selector,
        "t": rng.normal(0, 0.8, (6, 1)),
        "shape1": np.array([2, 3, 1]),
        "w2": rng.choice([0.0, 1.0, -1.0], (2, 4, 3)),
        "shape2": np.array([8, 1]),
        "b2": rng.integers(0, 3, (8, 1)),
        "one": np.array(1.0),
        "shape3": np.array([2, 4, 1]),
        "w3": rng.normal(0, 0.6, (2, 2, 4)),
        "shape4": np.array([2, 2, 1]),
        "axes": np.array([0]),
    }
    path = write_model(path, nodes, 4, [1, 2], weights)
    return _int64(path, ("shape1", "shape2", "shape3", "shape4", "axes"))


def _int64(path: Path, names: tuple[str, ...]) -> Path:
    """Turn the named initializers (written as float) into int64, as shapes and axes must be."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name in names:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.int64), init.name))
    onnx.save(model, str(path))
    return path


def compare_model(path: Path, op: str) -> Path:
    """y = Gemm(x) - x + (x <op> t) with the 0/1 aligned up to the activation scale: [1,4] -> [1,4]."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(13)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
        helper.make_node("Sub", ["g", "x"], ["d"]),
        helper.make_node(op, ["x", "t"], ["flag"]),
        helper.make_node("Cast", ["flag"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["d", "f"], ["y"]),
    ]
    weights = {"w": rng.normal(0, 0.7, (4, 4)), "b": rng.normal(0, 0.3, 4), "t": np.array([0.25, -0.5, 1 / 3, 0.0])}
    return write_model(path, nodes, 4, 4, weights)


def folded_model(path: Path) -> Path:
    """int8 weights cast and scaled (a constant subgraph ezkl computes ahead), a ReduceSum over a Gemm: [1,4] -> [1,1]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(14)
    nodes = [
        helper.make_node("Cast", ["wq"], ["wf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["wf", "ws"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("ReduceSum", ["h", "axes"], ["y"], keepdims=1),
    ]
    path = write_model(path, nodes, 4, 1, {"ws": np.array(0.01), "axes": np.array([1])})
    path = _int64(path, ("axes",))
    import onnx

    model = onnx.load(str(path))
    model.graph.initializer.append(numpy_helper.from_array(rng.integers(-127, 128, (4, 3)).astype(np.int8), "wq"))
    onnx.save(model, str(path))
    return path


def _ties() -> list[list[float]]:
    """Odd and even small integers at the input scale: x * 0.5 and the comparisons land on their ties."""
    return [[t * STEP for t in (-1, 1, -3, 3)], [t * STEP for t in (-2, 5, -7, 0)]]


def _thresholds() -> list[list[float]]:
    """Inputs exactly on, one step above and one below compare_model's thresholds."""
    on = [quantize(t, SCALE) for t in (0.25, -0.5, 1 / 3, 0.0)]
    return [[(q + d) * STEP for q in on] for d in (0, 1, -1)]


def _ezkl_matches(onnx_path: Path, folder: Path, samples: list[list[float]], ezkl_path: Path | None = None) -> None:
    settings, compiled = folder / "settings.json", folder / "model.compiled"
    ezkl_settings(ezkl_path or onnx_path, settings, compiled)
    graph = read_graph(onnx_path, ScaleSettings.read(settings))
    for values in samples:
        inputs, outputs = ezkl_instances(compiled, values, folder)
        assert inputs == [quantize(v, SCALE) for v in values]
        assert list(evaluate(graph, inputs)) == outputs, values


def test_quantize_array_is_ezkls_quantize() -> None:
    values = [v * STEP for v in (0.5, 1.5, 2.5, -0.5, -1.5, -2.5)] + [0.1, -0.9288330078125, 1 / 3, -7.77]
    assert quantize_array(values, SCALE).tolist() == [quantize(v, SCALE) for v in values]
    assert [round_div(v, 4) for v in (2, -2, 6, -6, 5, -5)] == [1, -1, 2, -2, 1, -1]


@pytest.mark.parametrize(
    ("make", "samples"),
    [
        (affine_model, "ties+random"),
        (tree_model, "random"),
        (lambda p: compare_model(p, "LessOrEqual"), "thresholds"),
        (lambda p: compare_model(p, "Greater"), "thresholds"),
        (folded_model, "random"),
    ],
    ids=["mul-sub-div-add-bn", "tree", "less-or-equal", "greater", "folded-int8"],
)
def test_evaluate_equals_ezkls_witness(make, samples: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    chosen = {"ties+random": _ties(), "thresholds": _thresholds(), "random": []}[samples] + rng.normal(0, 1.2, (6, 4)).tolist()
    _ezkl_matches(make(tmp_path / "m.onnx"), tmp_path, chosen)


def test_equal_is_read_as_zkmls_rewrite_proves_it(tmp_path: Path) -> None:
    """ezkl's own Equal is wrong (true is 2**-scale): the raw graph's Equal must equal what the rewritten graph proves."""
    import onnx

    from zkml.rewrite import rewrite_for_ezkl

    raw = compare_model(tmp_path / "raw.onnx", "Equal")
    model = onnx.load(str(raw))
    assert rewrite_for_ezkl(model)
    onnx.save(model, str(tmp_path / "rewritten.onnx"))
    _ezkl_matches(raw, tmp_path, _thresholds(), ezkl_path=tmp_path / "rewritten.onnx")


def test_the_tree_is_read_into_exact_steps(tmp_path: Path) -> None:
    graph = read_graph(tree_model(tmp_path / "t.onnx"), SCALES)
    kinds = [(type(s).__name__, getattr(s, "what", getattr(s, "op", ""))) for s in graph.steps]
    assert kinds == [
        ("Linear", "Gemm"),
        ("Compare", "LessOrEqual"),
        ("Linear", "MatMul"),
        ("Linear", "Sub"),
        ("Linear", "Add"),
        ("Linear", "MatMul"),
        ("Linear", "ReduceSum"),
        ("Linear", "Transpose"),
    ]
    select, _, leaves, _, indicator, weighted, *_ = graph.steps
    # A 1.0 selector at the param scale divides exactly: no rebase. The 0/1s times constants are not rebased either.
    assert isinstance(select, Linear) and select.shift == 0 and all(row == ((row[0][0], 1),) for row in select.rows)
    assert isinstance(leaves, Linear) and leaves.shift == 0
    assert isinstance(weighted, Linear) and weighted.shift == SCALE
    # The leaf indicators' ReLU is fused with a range check sized by their bound (3 * 2**13 + 2 * 2**13 + 2**13), not 40 bits.
    assert isinstance(indicator, Linear) and indicator.relu_bits == (6 << SCALE).bit_length() + 2
    assert (graph.input_size, graph.output_size) == (4, 2)


@pytest.mark.parametrize(
    ("node", "weights", "message"),
    [
        (("Mul", ["x", "c"]), {"c": np.array(0.5)}, "change the scale"),
        (("Div", ["x", "c"]), {"c": np.array(4.0)}, "change the scale"),
        (("Div", ["c", "x"]), {"c": np.ones(4)}, "divides an activation by a non-zero constant"),
        (("Mul", ["x", "x"]), {}, "one constant operand"),
        (("LessOrEqual", ["x", "c"]), {"c": np.zeros(4)}, "output is at scale 0"),
        (("Add", ["x", "c"]), {"c": np.zeros((3, 4))}, "would broadcast the activation"),
    ],
    ids=["mul-by-scalar-half", "div-by-scalar-4", "constant-divided", "square", "comparison-as-output", "broadcasting-add"],
)
def test_variants_it_cannot_mirror_are_refused_by_name(node: tuple, weights: dict, message: str, tmp_path: Path) -> None:
    from onnx import helper

    op, inputs = node
    path = write_model(tmp_path / "r.onnx", [helper.make_node(op, inputs, ["y"])], 4, 4, weights)
    with pytest.raises(CircuitError, match=message):
        read_graph(path, SCALES)


def test_batch_norm_in_training_mode_is_refused(tmp_path: Path) -> None:
    from onnx import helper

    node = helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1)
    path = write_model(tmp_path / "bn.onnx", [node], 4, 4, {k: np.ones(4) for k in "gbmv"})
    with pytest.raises(CircuitError, match="inference mode only"):
        read_graph(path, SCALES)


def _settings(folder: Path) -> Path:
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    return path


class _Circuits:
    """Each test model compiled once per module, on first use (the slow-marked ones only when they run)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.compiled: dict[str, CircomCircuit] = {}

    def __getitem__(self, name: str) -> CircomCircuit:
        if name not in self.compiled:
            make = {"tree": tree_model, "equal": lambda p: compare_model(p, "Equal"), "affine": affine_model}[name]
            self.compiled[name] = compile_model(make(self.folder / f"{name}.onnx"), _settings(self.folder), self.folder / name)
        return self.compiled[name]


@pytest.fixture(scope="module")
def circuits(tmp_path_factory: pytest.TempPathFactory) -> _Circuits:
    """The tree (Linear with and without rebase, LessOrEqual, Relu); Equal (Combine across scales, IsZero); affine (BN)."""
    return _Circuits(tmp_path_factory.mktemp("elementwise"))


@pytest.mark.parametrize("name", ["tree", pytest.param("equal", marks=pytest.mark.slow), pytest.param("affine", marks=pytest.mark.slow)])
def test_the_circuit_agrees_with_evaluate(name: str, circuits: _Circuits, tmp_path: Path) -> None:
    circuit = circuits[name]
    assert any(isinstance(s, Linear | Combine | Compare) for s in circuit.graph.steps)
    rng = np.random.default_rng(4)
    samples = _thresholds()[:2] + _ties()[:1] + rng.normal(0, 1.2, (1, 4)).tolist()
    for index, values in enumerate(samples):
        inputs = [quantize(v, SCALE) for v in values]
        _, outputs = write_witness(circuit, [to_field(v) for v in inputs], tmp_path / str(index))
        assert outputs == evaluate(circuit.graph, inputs), values


@pytest.mark.parametrize("name", ["tree", pytest.param("equal", marks=pytest.mark.slow)])
def test_the_circuit_refuses_an_output_it_did_not_compute(name: str, circuits: _Circuits, tmp_path: Path) -> None:
    circuit = circuits[name]
    inputs = [quantize(v, SCALE) for v in _thresholds()[0]]
    honest = evaluate(circuit.graph, inputs)
    wrong = (honest[0] + 1, *honest[1:])
    with pytest.raises(ProofError, match="computing the witness failed"):
        write_witness(circuit, [to_field(v) for v in inputs], tmp_path, claimed_outputs=wrong)


def test_dense_layers_keep_their_reader(tmp_path: Path) -> None:
    """A Gemm on an activation at the input scale stays a Dense step (its bias rule); a constant-first one is Linear."""
    from onnx import helper

    path = write_model(
        tmp_path / "g.onnx", [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], 4, 2, {"w": np.ones((2, 4)), "b": np.ones(2)}
    )
    assert [type(s) for s in read_graph(path, SCALES).steps] == [Dense]


def test_the_size_estimate_counts_the_elementwise_steps(circuits: _Circuits) -> None:
    """The verdict's estimate (which picks the powers of tau) is near what circom compiles: comparisons and the fused ReLU counted."""
    from zkml.circom.support import groth16_verdict

    circuit = circuits["tree"]
    verdict = groth16_verdict(circuit.folder.parent / "tree.onnx", SCALES)
    assert verdict.ok, verdict.reason
    assert 0.8 * circuit.constraints <= verdict.details["constraints_estimate"] <= 1.25 * circuit.constraints
