"""The CLI: one-line errors with exit codes, summaries, reuse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from zkml_cli.main import cli

from tests.helpers import flip_proof_byte
from zkml.errors import InputDataError

from .conftest import CIRCUITS, ProvedCircuit

MLP = str(CIRCUITS / "mlp_regressor")


@pytest.fixture
def build(mlp: ProvedCircuit, tmp_path: Path) -> Path:
    """A copy of the proved example's build folder."""
    shutil.copytree(mlp.workspace, tmp_path / "build" / "mlp_regressor")
    return tmp_path / "build"


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), obj={})


def test_help_is_instant_and_lists_stages() -> None:
    result = invoke("--help")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    for command in ("run", "export", "preflight", "calibrate", "compile", "setup", "prove", "verify", "srs"):
        assert command in result.output  # type: ignore[attr-defined]


def test_run_again_reuses_keys_and_writes_json(build: Path, tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    # The default suite stays on halo2: auto measures the circom systems (tests/circom/test_auto_backend.py, slow).
    result = invoke("run", MLP, "--build-dir", str(build), "--json", str(out), "--backend", "halo2")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "verified       True" in result.output  # type: ignore[attr-defined]
    summary = json.loads(out.read_text())
    keys = next(s for s in summary["stages"] if s["stage"] == "keys")
    assert keys["reused"] is True
    # The committed tuned settings, used by default (issue 12), and said so in the summary.
    tuned = json.loads((Path(MLP) / "tuned.json").read_text())["circuit"]["logrows"]
    assert summary["proof_bytes"] > 0 and summary["logrows"] == tuned and summary["settings"] == f"tuned (logrows {tuned})"
    assert summary["fidelity"]["max_abs_error"] >= 0


def test_tampered_proof_exits_1(build: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    flip_proof_byte(build / "mlp_regressor" / "proof.json", bad)
    result = invoke("verify", MLP, "--build-dir", str(build), "--proof", str(bad))
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "verified: false" in result.output  # type: ignore[attr-defined]
    good = invoke("verify", MLP, "--build-dir", str(build))
    assert good.exit_code == 0 and "verified: true" in good.output  # type: ignore[attr-defined]


def _one_error_line(result: object, pattern: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = [line for line in result.output.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert lines[-1].startswith("error: ") and pattern in lines[-1], lines
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_missing_onnx(tmp_path: Path) -> None:
    _one_error_line(invoke("run", str(tmp_path / "nope.onnx"), "--build-dir", str(tmp_path)), "does not exist")


def test_corrupt_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    _one_error_line(invoke("export", str(bad), "--build-dir", str(tmp_path)), "not a valid ONNX model")


def test_wrong_shape_input(build: Path, tmp_path: Path) -> None:
    bad = tmp_path / "in.json"
    bad.write_text(json.dumps({"input_data": [[0.1, 0.2, 0.3]]}))
    _one_error_line(invoke("prove", MLP, "--build-dir", str(build), "--input", str(bad)), "has 3 values, not a multiple of one sample's 8")


def test_nan_input(build: Path, tmp_path: Path) -> None:
    bad = tmp_path / "in.json"
    bad.write_text('{"input_data": [[0.1, NaN, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1]]}')
    _one_error_line(invoke("prove", MLP, "--build-dir", str(build), "--input", str(bad)), "NaN or inf")


def test_out_of_range_input(build: Path, tmp_path: Path) -> None:
    data = json.loads((CIRCUITS / "mlp_regressor" / "input.json").read_text())
    data["input_data"][0][0] = -500.0
    bad = tmp_path / "in.json"
    bad.write_text(json.dumps(data))
    _one_error_line(invoke("prove", MLP, "--build-dir", str(build), "--input", str(bad)), "outside the calibrated range")


def test_unsupported_op(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Trilu", ["x"], ["y"], name="mask")], "g", [x], [y])
    path = tmp_path / "trilu.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what exporters write; onnxruntime refuses the newest IR versions
    onnx.save(model, str(path))
    _one_error_line(invoke("run", str(path), "--build-dir", str(tmp_path / "b")), "mask (Trilu)")


def test_debug_shows_the_exception(build: Path, tmp_path: Path) -> None:
    bad = tmp_path / "in.json"
    bad.write_text(json.dumps({"input_data": [[0.1]]}))
    result = invoke("--debug", "prove", MLP, "--build-dir", str(build), "--input", str(bad))
    assert isinstance(result.exception, InputDataError)  # type: ignore[attr-defined]


def test_key_mismatch_via_swapped_key_file(build: Path, tiny: ProvedCircuit) -> None:
    # A pk from another circuit dropped into the workspace: detected, keys remade, proof verifies.
    shutil.copyfile(tiny.workspace / "pk.key", build / "mlp_regressor" / "pk.key")
    result = invoke("run", MLP, "--build-dir", str(build), "--json", "-", "--backend", "halo2")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    summary = json.loads(result.output[result.output.index("{") :])  # type: ignore[attr-defined]
    keys = next(s for s in summary["stages"] if s["stage"] == "keys")
    assert keys["reused"] is False and summary["verified"] is True


def test_srs_commands(tmp_path: Path) -> None:
    made = invoke("srs", "gen", "-k", "4")
    assert made.exit_code == 0 and "development only, unsafe" in made.output  # type: ignore[attr-defined]
    listed = invoke("srs", "list")
    assert "logrows  4" in listed.output  # type: ignore[attr-defined]
    bad = tmp_path / "bad.srs"
    bad.write_bytes(b"\x04\x00\x00\x00" + b"\x00" * 10)
    _one_error_line(invoke("srs", "import", str(bad)), "corrupt")


def test_two_network_onnx_models_get_two_workspaces_and_name_overrides(tmp_path: Path) -> None:
    from zkml_cli.options import resolve_target

    from tests.helpers import make_tiny_onnx

    first = make_tiny_onnx((tmp_path / "lstm").mkdir() or tmp_path / "lstm" / "network.onnx")
    second = make_tiny_onnx((tmp_path / "gru").mkdir() or tmp_path / "gru" / "network.onnx", seed=2)
    a, b = resolve_target(str(first), tmp_path / "build"), resolve_target(str(second), tmp_path / "build")
    assert (a.workspace.name, b.workspace.name) == ("lstm", "gru")
    assert resolve_target(str(first), tmp_path / "build", name="mine").workspace == tmp_path / "build" / "mine"


def test_name_option_and_a_foreign_workspace(tmp_path: Path) -> None:
    from tests.helpers import make_tiny_onnx

    first = make_tiny_onnx((tmp_path / "one").mkdir() or tmp_path / "one" / "m.onnx")
    second = make_tiny_onnx((tmp_path / "two").mkdir() or tmp_path / "two" / "m.onnx", seed=2)
    runner = CliRunner()
    build = str(tmp_path / "build")
    ok = runner.invoke(cli, ["export", str(first), "--build-dir", build, "--name", "shared"])
    assert ok.exit_code == 0, ok.output
    clash = runner.invoke(cli, ["export", str(second), "--build-dir", build, "--name", "shared"])
    assert clash.exit_code == 2 and "belongs to another model" in clash.output
    bad = runner.invoke(cli, ["export", str(first), "--name", "../x"])
    assert bad.exit_code == 2 and "not a folder name" in bad.output


def test_run_summary_says_which_evaluator_and_verifier_it_used() -> None:
    from zkml_cli.stages import _intake_lines

    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    assert "--no-reusable-fallback" in help_text and "--name" in help_text
    lines = _intake_lines(
        {
            "reference_evaluator": "onnx.reference",
            "reference_fallback_reason": "Type 'tensor(int8)' of input parameter ... is invalid",
            "outputs_by_name": {"label": [1.0], "probs": [0.25, 0.75]},
            "verifier_fallback": "the plain verifier is 28,521 runtime bytes, over the EIP-170 limit of 24,576: ...",
            "rewrites": [
                "folded 3 nodes computed from shapes and constants (Shape, Gather, Slice) into 1 constant",
                "eq: Equal -> Not(Xor)",
            ],
        }
    )
    text = "\n".join(lines)
    assert "  folded         3 nodes computed from shapes and constants (Shape, Gather, Slice) into 1 constant" in lines
    assert "  rewritten      eq: Equal -> Not(Xor)" in lines
    assert "onnx.reference (onnxruntime refused the graph: Type 'tensor(int8)'" in text
    assert "output label" in text and "0.25, 0.75" in text
    assert "reusable + VKA: the plain verifier is 28,521" in text


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".key"}


def test_oversize_input_is_refused_naming_file_size_and_limit(build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKML_MAX_INPUT_BYTES", "2048")
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"input_data": [[0.1] * 8], "padding": "x" * 3000}))
    before = _files(build)
    size = big.stat().st_size
    result = invoke("prove", MLP, "--build-dir", str(build), "--input", str(big))
    _one_error_line(result, f"input file {big} is {size:,} bytes, over the 2,048-byte limit")
    assert "ZKML_MAX_INPUT_BYTES" in result.output  # type: ignore[attr-defined]
    assert _files(build) == before


def test_unknown_input_key_is_refused_by_run(build: Path, tmp_path: Path) -> None:
    data = json.loads((CIRCUITS / "mlp_regressor" / "input.json").read_text())
    data["padding"] = "x" * 100
    bad = tmp_path / "padded.json"
    bad.write_text(json.dumps(data))
    before = _files(build)
    result = invoke("run", MLP, "--build-dir", str(build), "--input", str(bad))
    _one_error_line(result, "unknown key 'padding'")
    assert _files(build) == before
