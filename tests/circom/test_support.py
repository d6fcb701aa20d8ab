"""Which backends take a model, and `zkml backends`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from zkml_cli.main import cli

from tests.circom.models import conv1d_model, residual_model, write_model
from zkml.circom.support import backend_verdicts


def test_an_mlp_goes_to_both_backends_with_an_estimated_size(tmp_path: Path) -> None:
    halo2, groth16 = backend_verdicts(residual_model(tmp_path / "m.onnx"))
    assert halo2.ok and groth16.ok
    # 13 rescales at shift 13 (and a sign test per ReLU row with a positive bias): within 10% of the compiled circuit.
    from zkml.circom.build import compile_model

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"run_args": {"input_scale": 13, "param_scale": 13, "scale_rebase_multiplier": 1}}))
    compiled = compile_model(tmp_path / "m.onnx", settings, tmp_path / "circom").constraints
    assert abs(groth16.details["constraints_estimate"] - compiled) < 0.1 * compiled
    assert groth16.details["public_signals"] == 7 and groth16.details["ptau_power"] == 10


def test_the_reason_a_backend_refuses_is_named(tmp_path: Path) -> None:
    from onnx import helper

    path = write_model(tmp_path / "s.onnx", [helper.make_node("Exp", ["x"], ["y"])], 2, 2, {})
    halo2, groth16 = backend_verdicts(path)
    assert halo2.ok and not groth16.ok and "Exp" in groth16.reason


def test_the_backends_command(tmp_path: Path) -> None:
    path = residual_model(tmp_path / "m.onnx")
    result = CliRunner().invoke(cli, ["backends", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "halo2: yes" and result.output.splitlines()[1].startswith("groth16: yes (constraints estimate")
    data = json.loads(CliRunner().invoke(cli, ["backends", str(path), "--json"]).output)
    assert [(v["backend"], v["ok"]) for v in data] == [("halo2", True), ("groth16", True)]


def test_a_conv_and_average_pool_model_goes_to_both_backends(tmp_path: Path) -> None:
    halo2, groth16 = backend_verdicts(conv1d_model(tmp_path / "c.onnx"))
    assert halo2.ok and groth16.ok, groth16.reason
    assert groth16.details["public_signals"] == 18 + 12


def test_preflight_names_the_second_backends_verdict(tmp_path: Path) -> None:
    from onnx import helper

    taken = residual_model(tmp_path / "m.onnx")
    result = CliRunner().invoke(cli, ["preflight", str(taken), "--build-dir", str(tmp_path / "build")])
    assert result.exit_code == 0, result.output
    assert "circom backend (groth16, plonk, fflonk): yes (constraints estimate" in result.output
    # The batch-2 workspace's unrolled ONNX (Concat, Slice) is not what the circom path reads: its batch-1 model is.
    (tmp_path / "two.json").write_text('{"input_data": [[0.5, -1.0, 0.25, 2.0, -0.5, 1.5, 0.0, -2.0]]}')
    batched = ["--batch-size", "2", "--input", str(tmp_path / "two.json"), "--build-dir", str(tmp_path / "build")]
    result = CliRunner().invoke(cli, ["preflight", str(taken), *batched])
    assert result.exit_code == 0, result.output
    assert "yes (constraints estimate" in result.output and "per sample; the batch circuit is 2 copies" in result.output

    refused = write_model(tmp_path / "s.onnx", [helper.make_node("Exp", ["x"], ["y"])], 2, 2, {})
    result = CliRunner().invoke(cli, ["preflight", str(refused), "--build-dir", str(tmp_path / "build")])
    assert result.exit_code == 0, result.output  # halo2 takes it; only the second backend refuses, by name
    assert "circom backend (groth16, plonk, fflonk): no: " in result.output and "Exp" in result.output
