"""Sigmoid and Tanh on the circom path: ezkl's lookup rule, its threshold table, and the circuit's gadget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import ezkl_instances, write_model
from zkml.circom.build import CircomCircuit, compile_model, r1cs_counts
from zkml.circom.codegen import VALUE_BITS
from zkml.circom.graph import ScaleSettings, evaluate, read_graph
from zkml.circom.lookups import Lookup, constraints_estimate, grid, levels, sigmoid, table, tanh
from zkml.circom.prove import to_field, write_witness
from zkml.circom.support import backend_verdicts
from zkml.errors import CircuitError, ProofError

LOW, HIGH = -(1 << (VALUE_BITS - 1)), 1 << (VALUE_BITS - 1)  # the circuit's input range [LOW, HIGH)
CIRCUIT_SCALE = 7  # small tables (129 and 257 levels): the circuits compile in seconds
TANH_GRID = grid(257)  # Tanh's levels at CIRCUIT_SCALE as (rows, columns)


def _elementwise_model(path: Path, op: str, width: int) -> Path:
    from onnx import helper

    return write_model(path, [helper.make_node(op, ["x"], ["y"])], width, width, {})


def _gemm_model(path: Path, op: str, seed: int) -> Path:
    """Gemm 2 -> 8 (no bias, see the report on Gemm biases at rounding ties) then ``op``: the lookup takes a rebased product."""
    from onnx import helper

    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["g"], transB=1), helper.make_node(op, ["g"], ["y"])]
    return write_model(path, nodes, 2, 8, {"w": rng.normal(0, 1.0, (8, 2))})


def _settings(folder: Path, scale: int) -> Path:
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": scale, "param_scale": scale, "scale_rebase_multiplier": 1}}))
    return path


def _boundaries(function: str, scale: int, rng: np.random.Generator, count: int, edge: int = 8) -> list[int]:
    """Inputs on and just below the thresholds of the ``edge`` first and last and ``count`` random output levels."""
    bounds = table(function, scale, VALUE_BITS).bounds
    inner = list(range(1, edge + 1)) + list(range(len(bounds) - edge - 1, len(bounds) - 1))
    inner += rng.integers(1, len(bounds) - 1, count).tolist()
    return [x for k in inner for x in (bounds[k], bounds[k] - 1)]


def test_ezkls_rule_at_known_points() -> None:
    for scale in (7, 13):
        one = 1 << scale
        assert sigmoid(0, scale) == one // 2 and tanh(0, scale) == 0
        assert (sigmoid(LOW, scale), sigmoid(HIGH - 1, scale)) == (0, one)  # saturated, no f64 overflow
        assert (tanh(LOW, scale), tanh(HIGH - 1, scale)) == (-one, one)
        assert all(tanh(-x, scale) == -tanh(x, scale) for x in range(0, 40 * one, 97))
    # f64, not f32: at scale 13 input 8,192 (x = 1.0) gives 8192 * 0.7310585786 = 5988.83 -> 5989.
    assert sigmoid(8192, 13) == 5989


@pytest.mark.parametrize("function", ["sigmoid", "tanh"])
def test_each_level_owns_exactly_the_inputs_that_give_it(function: str) -> None:
    f = sigmoid if function == "sigmoid" else tanh
    scale = CIRCUIT_SCALE
    t = table(function, scale, VALUE_BITS)
    assert t.levels == ((1 << scale) + 1 if function == "sigmoid" else (1 << (scale + 1)) + 1)
    assert (t.bounds[0], t.bounds[-1]) == (LOW, HIGH)
    assert all(a < b for a, b in zip(t.bounds, t.bounds[1:], strict=False))  # no empty level at this scale
    window = 1 << (scale + 5)  # every threshold is inside it; outside, the output is saturated
    assert -window < t.bounds[1] and t.bounds[-2] < window
    assert all(f(x, scale) == t.first + t.index(x) for x in range(-window, window))
    with pytest.raises(CircuitError, match="outside the circuit's range"):
        t.index(HIGH)


@pytest.mark.parametrize("scale", [7, 13])
@pytest.mark.parametrize("op", ["Sigmoid", "Tanh"])
@pytest.mark.parametrize("after_gemm", [False, True], ids=["direct", "after-gemm"])
def test_evaluate_equals_ezkls_witness(op: str, scale: int, after_gemm: bool, tmp_path: Path) -> None:
    from zkml import _ezkl

    rng = np.random.default_rng(scale)
    width = 256
    onnx_path = _gemm_model(tmp_path / "m.onnx", op, scale) if after_gemm else _elementwise_model(tmp_path / "m.onnx", op, width)
    settings, compiled = tmp_path / "settings.json", tmp_path / "model.compiled"
    args = _ezkl.run_args(
        input_scale=scale, param_scale=scale, input_visibility="public", output_visibility="public", param_visibility="fixed"
    )
    _ezkl.call("gen_settings", str(onnx_path), str(settings), py_run_args=args)
    _ezkl.call("compile_circuit", str(onnx_path), str(compiled), str(settings))
    graph = read_graph(onnx_path, ScaleSettings.read(settings))
    assert [type(step) for step in graph.steps][-1] is Lookup
    one = 1 << scale
    if after_gemm:  # products around the steep middle and beyond saturation, on the quantization grid
        samples = [rng.integers(-4 * one, 4 * one, 2) / one for _ in range(12)] + [rng.normal(0, 8, 2) for _ in range(4)]
    else:
        values = _boundaries(op.lower(), scale, rng, 40) + rng.integers(-12 * one, 12 * one, 60).tolist() + [40 * one, -40 * one]
        values += [0] * (-len(values) % width)
        samples = [np.array(values[i : i + width]) / one for i in range(0, len(values), width)]
    for values in samples:
        inputs, outputs = ezkl_instances(compiled, [float(v) for v in values], tmp_path)
        assert list(evaluate(graph, inputs)) == outputs, values


@pytest.fixture(scope="module")
def lookup_circuit(tmp_path_factory: pytest.TempPathFactory) -> CircomCircuit:
    """x[3] -> Tanh -> Gemm 3 -> 2 (with bias) -> Sigmoid at scale 7: 1,571 constraints (1,454 of them the 5 lookups)."""
    from onnx import helper

    folder = tmp_path_factory.mktemp("lookups")
    rng = np.random.default_rng(11)
    nodes = [
        helper.make_node("Tanh", ["x"], ["t"]),
        helper.make_node("Gemm", ["t", "w", "b"], ["g"], transB=1),
        helper.make_node("Sigmoid", ["g"], ["y"]),
    ]
    path = write_model(folder / "m.onnx", nodes, 3, 2, {"w": rng.normal(0, 1.5, (2, 3)), "b": rng.normal(0, 0.5, 2)})
    return compile_model(path, _settings(folder, CIRCUIT_SCALE), folder / "circom")


def test_the_circuit_agrees_with_evaluate_on_thresholds_and_range_ends(lookup_circuit: CircomCircuit, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    values = _boundaries("tanh", CIRCUIT_SCALE, rng, 2, edge=2) + [LOW, HIGH - 1, 0, 77, -300]
    values += [0] * (-len(values) % 3)
    for index in range(0, len(values), 3):
        inputs = values[index : index + 3]
        # The circuit constrains its outputs equal to evaluate()'s: a disagreement fails here.
        _, outputs = write_witness(lookup_circuit, [to_field(v) for v in inputs], tmp_path / str(index))
        assert outputs == evaluate(lookup_circuit.graph, inputs)
    with pytest.raises(ProofError, match="computing the witness failed"):  # past the range, no level owns the input
        write_witness(lookup_circuit, [to_field(v) for v in (HIGH, 0, 0)], tmp_path / "out")


def _cheat(circuit: CircomCircuit, hint: str, cheat: str, folder: Path) -> CircomCircuit:
    """The circuit compiled with its one ``hint`` line replaced by ``cheat``: the same R1CS, a cheating prover's witness."""
    from zkml.circom import tools

    source = circuit.source.read_text()
    assert source.count(hint) == 1
    folder.mkdir()
    (folder / "model.circom").write_text(source.replace(hint, cheat))
    tools.run("circom2", ["model.circom", "--r1cs", "--wasm", "--O1", "-o", "."], doing="compiling", error=CircuitError, cwd=folder)
    assert (folder / "model.r1cs").read_bytes() == circuit.r1cs.read_bytes()  # `<--` hints add no constraint
    return CircomCircuit(folder, circuit.graph, *r1cs_counts(folder / "model.r1cs"), circuit.r1cs_sha256)


@pytest.mark.parametrize(
    ("hint", "cheat", "shift"),
    [
        ("var k = Lookup_tanh_7_index(in);", "var k = Lookup_tanh_7_index(in) + {sign};", 1),
        (f"var pickedRow = k \\ {TANH_GRID[1]};", f"var pickedRow = k \\ {TANH_GRID[1]} + {{sign}};", TANH_GRID[1]),
    ],
    ids=["wrong-level", "wrong-row"],
)
def test_a_prover_cannot_choose_another_level(lookup_circuit: CircomCircuit, hint: str, cheat: str, shift: int, tmp_path: Path) -> None:
    """A cheating prover's hint picks the level ``shift`` away from the right one (the next column, or the next row); the constraints refuse it."""
    cheater = _cheat(lookup_circuit, hint, cheat.format(sign="(in > 0 ? 1 : 0) - (in < 0 ? 1 : 0)"), tmp_path / "cheat")
    t = table("tanh", CIRCUIT_SCALE, VALUE_BITS)

    def cheated(x: int, step: int) -> tuple[int, ...]:
        """The model's outputs when the first Tanh gives the level ``step`` from x's: the only claim the output equalities accept."""
        return evaluate(cheater.graph, [t.bounds[t.index(x) + step], 0, 0])

    for step in (shift, -shift):  # the hint's level: above for x > 0, below for x < 0 (the honest one at 0)
        # an x whose other level still shows in the outputs (the Sigmoid can absorb a level or a few)
        x = next(
            x
            for x in range(step // shift * 60, step // shift * 400, step // shift)
            if 0 <= t.index(x) + step < t.levels and cheated(x, step) != evaluate(cheater.graph, [x, 0, 0])
        )
        with pytest.raises(ProofError, match="computing the witness failed"):
            write_witness(cheater, [to_field(v) for v in (x, 0, 0)], tmp_path / "w", claimed_outputs=cheated(x, step))
    write_witness(lookup_circuit, [to_field(v) for v in (90, 0, 0)], tmp_path / "control")  # the honest hint passes


def test_the_grid_past_the_last_level_cannot_be_chosen_and_the_cost_is_exact(tmp_path: Path) -> None:
    """A lone Tanh: its compiled size is the estimate, and a hint one past the last level (a padding cell) is refused."""
    path = _elementwise_model(tmp_path / "t.onnx", "Tanh", 1)
    circuit = compile_model(path, _settings(tmp_path, CIRCUIT_SCALE), tmp_path / "circom")
    step = circuit.graph.steps[-1]
    assert isinstance(step, Lookup)
    assert circuit.constraints == constraints_estimate(step, VALUE_BITS) == TANH_GRID[0] + 3 * TANH_GRID[1] + 2 * VALUE_BITS + 7
    rows, columns = TANH_GRID
    assert rows * columns > 257  # there are padding cells after the last level 256
    for x in (LOW, HIGH - 1):  # the range's two ends, in the first and the last level
        write_witness(circuit, [to_field(x)], tmp_path / f"honest{x}")
    hint = "var k = Lookup_tanh_7_index(in);"
    cheater = _cheat(circuit, hint, "var k = Lookup_tanh_7_index(in) + (in > 0 ? 1 : 0);", tmp_path / "cheat")
    first = table("tanh", CIRCUIT_SCALE, VALUE_BITS).first
    write_witness(cheater, [to_field(-5)], tmp_path / "control")  # x <= 0: the hint is honest, the witness passes
    with pytest.raises(ProofError, match="computing the witness failed"):  # the level above x = 2's: refused
        write_witness(cheater, [to_field(2)], tmp_path / "next", claimed_outputs=[tanh(2, CIRCUIT_SCALE) + 1])
    for x in (HIGH - 1, HIGH):  # cell 257, past the last level, for the last input and for one past the range: refused
        with pytest.raises(ProofError, match="computing the witness failed"):
            write_witness(cheater, [to_field(x)], tmp_path / f"padding{x}", claimed_outputs=[first + 257])


def test_the_cost_grows_with_the_square_root_of_the_levels() -> None:
    """A Tanh at scale 13 has 16,385 levels, at 16 131,073: an element costs a few hundred constraints, not one per level."""
    for function, scale, bound in [("sigmoid", 13, 450), ("tanh", 13, 600), ("tanh", 16, 1500)]:
        n = levels(function, scale, VALUE_BITS)
        per_element = constraints_estimate(Lookup("x", "y", function, scale, 1), VALUE_BITS)
        assert per_element < bound and per_element - 2 * VALUE_BITS < 5 * n**0.5, (function, scale, per_element)
        rows, columns = grid(n)
        assert rows * columns >= n and (rows - 1) * columns < n


@pytest.mark.slow
def test_the_compiled_cost_at_scale_13_is_the_estimate(tmp_path: Path) -> None:
    """Compiling a 16,385-level Tanh table takes ~10 s: its two elements cost 531 constraints each, as estimated."""
    path = _elementwise_model(tmp_path / "t.onnx", "Tanh", 2)
    circuit = compile_model(path, _settings(tmp_path, 13), tmp_path / "circom")
    step = circuit.graph.steps[-1]
    assert isinstance(step, Lookup)
    assert circuit.constraints == constraints_estimate(step, VALUE_BITS) == 2 * 531
    rng = np.random.default_rng(13)
    for x in rng.integers(-4 << 13, 4 << 13, (2, 2)).tolist():
        write_witness(circuit, [to_field(v) for v in x], tmp_path / str(x))


def test_the_size_estimate_counts_lookups_and_large_scales_are_refused(tmp_path: Path) -> None:
    path = _elementwise_model(tmp_path / "s.onnx", "Sigmoid", 4)
    halo2, groth16 = backend_verdicts(path)  # default scale 13: 8,193 levels, a 164 x 50 grid per element
    assert halo2.ok and groth16.ok, groth16.reason
    assert groth16.details["constraints_estimate"] == 4 * (164 + 3 * 50 + 2 * VALUE_BITS + 7) + 4  # + the 4 output equalities
    with pytest.raises(CircuitError, match="Sigmoid: the circom backend takes lookups at scales 1 to 16, not 17"):
        read_graph(path, ScaleSettings(17, 17))
