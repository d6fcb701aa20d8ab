"""Softmax on the circom path: ezkl's integer rule, its Exp table, and a circuit whose outputs the prover cannot choose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.circom.models import write_model
from zkml.circom.build import CircomCircuit, compile_model, r1cs_counts
from zkml.circom.codegen import VALUE_BITS
from zkml.circom.graph import ScaleSettings, evaluate, read_graph
from zkml.circom.prove import to_field, write_witness
from zkml.circom.softmax import Softmax, exp_level, exp_table, softmax_ints
from zkml.circom.support import groth16_verdict
from zkml.errors import CircuitError, ProofError

CIRCUIT_SCALE = 7  # a 129-level Exp table: the circuit compiles in about a second


def _softmax_model(path: Path, groups: int, width: int, *, axis: int = -1) -> Path:
    """x [1, groups, width] -> Softmax over the last axis (``groups`` independent softmaxes)."""
    from onnx import helper

    return write_model(path, [helper.make_node("Softmax", ["x"], ["y"], axis=axis)], [1, groups, width], [1, groups, width], {})


def _gemm_softmax_model(path: Path, width: int, seed: int) -> Path:
    """Gemm 4 -> width (with bias) then Softmax: the softmax takes a rebased product, as gbt_classifier's and torch's do."""
    from onnx import helper

    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1), helper.make_node("Softmax", ["g"], ["y"], axis=1)]
    return write_model(path, nodes, 4, width, {"w": rng.normal(0, 1.5, (width, 4)), "b": rng.normal(0, 0.5, width)})


def _settings(folder: Path, scale: int) -> Path:
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": scale, "param_scale": scale, "scale_rebase_multiplier": 1}}))
    return path


def _ezkl_compile(onnx_path: Path, scale: int, folder: Path) -> Path:
    from zkml import _ezkl

    settings, compiled = folder / "settings.json", folder / "model.compiled"
    args = _ezkl.run_args(
        input_scale=scale, param_scale=scale, input_visibility="public", output_visibility="public", param_visibility="fixed"
    )
    _ezkl.call("gen_settings", str(onnx_path), str(settings), py_run_args=args)
    _ezkl.call("compile_circuit", str(onnx_path), str(compiled), str(settings))
    assert json.loads(settings.read_text())["model_output_scales"] == [scale]  # the softmax comes out at the input scale
    return compiled


def test_the_rule_at_known_points() -> None:
    for scale in (11, 13):
        one = 1 << scale
        assert exp_level(0, scale) == one and exp_level(-1, scale) == one - 1 and exp_level(-(1 << 40), scale) == 0
        assert softmax_ints([5, 5], scale) == [one // 2, one // 2]
        assert softmax_ints([7, 7, 7], scale) == [(one + 1) // 3] * 3  # r = round(2^2s / 3 * 2^s), then rebased
        assert softmax_ints([0, -100 * one], scale) == [one, 0]
    # s = 11, x = [5744, 2243, 182]: e = [2048, 371, 135], r = round(2^22 / 2554) = 1642, y = round(e * r / 2^11).
    assert softmax_ints([5744, 2243, 182], 11) == [1642, 297, 108]


def test_each_exp_level_owns_exactly_the_inputs_that_give_it() -> None:
    scale = 9
    t = exp_table(scale, VALUE_BITS)
    assert t.levels == (1 << scale) + 1 and (t.bounds[0], t.bounds[-1]) == (-(1 << VALUE_BITS), 1)
    assert all(a < b for a, b in zip(t.bounds, t.bounds[1:], strict=False))  # every level is taken
    assert all(t.index(d) == exp_level(d, scale) for d in range(-20 << scale, 1))
    with pytest.raises(CircuitError, match="outside the circuit's range"):
        t.index(1)  # d > 0 has no level: the circuit's max is an upper bound


def _boundary_groups(scale: int, width: int, rng: np.random.Generator, count: int) -> list[list[int]]:
    """Groups whose differences from the max sit on and just below Exp thresholds, with ties of the max."""
    bounds = exp_table(scale, VALUE_BITS).bounds
    groups = []
    for k in rng.integers(1, len(bounds) - 1, count).tolist():
        top = int(rng.integers(-(2 << scale), 2 << scale))
        others = [top + bounds[k] - int(rng.integers(0, 2)) for _ in range(width - 2)]
        groups.append([top, top, *others][:width] if width > 2 else [top, top + bounds[k]])
    return groups


@pytest.mark.parametrize("scale", [11, 13])
def test_evaluate_equals_ezkls_witness(scale: int, tmp_path: Path) -> None:
    """Widths 2, 3 and 8, random inputs from +-0.002 to +-40 and Exp thresholds, and after a Gemm: every integer equals ezkl's."""
    from tests.circom.models import ezkl_instances

    one, rng = 1 << scale, np.random.default_rng(scale)
    for width, groups in ((2, 96), (3, 64), (8, 24)):
        folder = tmp_path / f"w{width}"
        folder.mkdir()
        onnx_path = _softmax_model(folder / "m.onnx", groups, width)
        compiled = _ezkl_compile(onnx_path, scale, folder)
        graph = read_graph(onnx_path, ScaleSettings(scale, scale))
        assert [type(s) for s in graph.steps] == [Softmax]
        rows = _boundary_groups(scale, width, rng, groups)
        for spread in (0.002, 1, 40):
            rows += rng.integers(-int(spread * one) - 1, int(spread * one) + 1, (groups, width)).tolist()
        for start in range(0, len(rows), groups):
            values = [v / one for row in rows[start : start + groups] for v in row]
            inputs, outputs = ezkl_instances(compiled, values, folder)
            assert list(evaluate(graph, inputs)) == outputs
    folder = tmp_path / "gemm"
    folder.mkdir()
    onnx_path = _gemm_softmax_model(folder / "m.onnx", 3, scale)
    compiled = _ezkl_compile(onnx_path, scale, folder)
    graph = read_graph(onnx_path, ScaleSettings(scale, scale))
    for _ in range(20):
        inputs, outputs = ezkl_instances(compiled, (rng.integers(-3 * one, 3 * one, 4) / one).tolist(), folder)
        assert list(evaluate(graph, inputs)) == outputs


def test_softmaxes_it_cannot_group_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CircuitError, match="over the last axis, not axis 1 of"):
        read_graph(_softmax_model(tmp_path / "a.onnx", 3, 4, axis=1), ScaleSettings(13, 13))
    with pytest.raises(CircuitError, match="softmax at scales 1 to 16, not 17"):
        read_graph(_softmax_model(tmp_path / "b.onnx", 1, 3), ScaleSettings(17, 17))


@pytest.fixture(scope="module")
def softmax_circuit(tmp_path_factory: pytest.TempPathFactory) -> CircomCircuit:
    """Two softmaxes of 3 at scale 7: 2 x 3 exp lookups, two reciprocals, six rebases."""
    folder = tmp_path_factory.mktemp("softmax")
    return compile_model(_softmax_model(folder / "m.onnx", 2, 3), _settings(folder, CIRCUIT_SCALE), folder / "circom")


def test_the_circuit_agrees_with_evaluate_and_its_cost_is_the_estimate(softmax_circuit: CircomCircuit, tmp_path: Path) -> None:
    one = 1 << CIRCUIT_SCALE
    cases = [[0, 0, 0, 5, 5, -900], [3 * one, -one, 17, -(1 << 38), (1 << 38) - 1, 0], [-7, -7, -8, 100, 2 * one, 2 * one]]
    for index, inputs in enumerate(cases):
        _, outputs = write_witness(softmax_circuit, [to_field(v) for v in inputs], tmp_path / str(index))
        assert outputs == evaluate(softmax_circuit.graph, inputs)  # the circuit constrains them equal to what it computes
    onnx_path = softmax_circuit.folder.parent / "m.onnx"
    verdict = groth16_verdict(onnx_path, ScaleSettings(CIRCUIT_SCALE, CIRCUIT_SCALE))
    assert verdict.details["constraints_estimate"] == softmax_circuit.constraints
    with pytest.raises(ProofError, match="computing the witness failed"):  # an output one off
        honest = evaluate(softmax_circuit.graph, cases[1])
        write_witness(softmax_circuit, [to_field(v) for v in cases[1]], tmp_path / "off", claimed_outputs=[honest[0] + 1, *honest[1:]])


def _cheat(circuit: CircomCircuit, replacements: dict[str, str], folder: Path) -> CircomCircuit:
    """The circuit compiled with hint lines (``<--``) replaced: the same R1CS, a cheating prover's witness."""
    from zkml.circom import tools

    source = circuit.source.read_text()
    for hint, cheat in replacements.items():
        assert source.count(hint) == 1, hint
        source = source.replace(hint, cheat)
    folder.mkdir()
    (folder / "model.circom").write_text(source)
    tools.run("circom2", ["model.circom", "--r1cs", "--wasm", "--O1", "-o", "."], doing="compiling", error=CircuitError, cwd=folder)
    assert (folder / "model.r1cs").read_bytes() == circuit.r1cs.read_bytes()  # hints add no constraint
    return CircomCircuit(folder, circuit.graph, *r1cs_counts(folder / "model.r1cs"), circuit.r1cs_sha256)


def _softmax_with(xs: list[int], scale: int, *, top_shift: int = 0, r_shift: int = 0, y_shift: int = 0) -> list[int]:
    """What a prover whose hints moved the max, the reciprocal or the rounded outputs would claim."""
    one = 1 << scale
    e = [exp_level(x - max(xs) - top_shift, scale) for x in xs]
    r = (2 * one * one + sum(e)) // (2 * sum(e)) + r_shift
    return [((v * r + one // 2) >> scale) + y_shift for v in e]


CHEATS = {
    "max": ({"top <-- best;": "top <-- best + 1;"}, {"top_shift": 1}),
    "reciprocal": (
        {
            "r <-- (32768 + total) \\ (2 * total);": "r <-- (32768 + total) \\ (2 * total) + 1;",
            "rem <-- (32768 + total) % (2 * total);": "rem <-- (32768 + total) % (2 * total) - 2 * total;",
        },
        {"r_shift": 1},
    ),
    "rounding": (
        {
            "out[i] <-- (product[i] + 64) \\ 128;": "out[i] <-- (product[i] + 64) \\ 128 + 1;",
            "q[i] <-- (product[i] + 64) % 128;": "q[i] <-- (product[i] + 64) % 128 - 128;",
        },
        {"y_shift": 1},
    ),
}


# A circom compile and a witness each (~1.3 s): the max in the default suite, the other two slow.
@pytest.mark.parametrize(
    "cheat", ["max", pytest.param("reciprocal", marks=pytest.mark.slow), pytest.param("rounding", marks=pytest.mark.slow)]
)
def test_a_prover_cannot_move_the_max_the_reciprocal_or_the_rounding(softmax_circuit: CircomCircuit, cheat: str, tmp_path: Path) -> None:
    """Each cheat keeps every equation but one satisfiable and claims the outputs it leads to; the softmax's constraints refuse it.

    The max's product of differences fails for ``top = max + 1``; a reciprocal or an output one too
    large needs a negative remainder, which its range check (``Bits``) refuses.
    """
    replacements, shifts = CHEATS[cheat]
    cheater = _cheat(softmax_circuit, replacements, tmp_path / "cheat")
    inputs = [300, -40, 120, 5, 5, -900]
    claimed = [y for g in (inputs[:3], inputs[3:]) for y in _softmax_with(g, CIRCUIT_SCALE, **shifts)]
    assert claimed != list(evaluate(softmax_circuit.graph, inputs))
    failed_in = "Softmax_7_3" if cheat == "max" else r"Bits_\d+ line: \d+; Error in template Softmax_7_3"
    with pytest.raises(ProofError, match=f"computing the witness failed.*Error in template {failed_in}"):
        write_witness(cheater, [to_field(v) for v in inputs], tmp_path / "w", claimed_outputs=claimed)
    write_witness(softmax_circuit, [to_field(v) for v in inputs], tmp_path / "honest")  # the honest hints pass
