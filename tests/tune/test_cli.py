"""`zkml tune` / `zkml report` through click, with the root group's error handling."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

CIRCUITS = Path(__file__).resolve().parents[2] / "circuits"


@pytest.fixture()
def root():  # type: ignore[no-untyped-def]
    """The root group (the real ZkmlGroup class, which loads tune and report on first use)."""
    from zkml_cli.main import cli

    return cli


def test_tune_takes_a_bare_onnx_with_generated_holdout(root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No folder, no budget, no held-out data: tuned to ezkl's own accuracy on generated samples, and says so."""
    import json

    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    onnx_path = tmp_path / "models" / "tiny.onnx"
    onnx_path.parent.mkdir()
    torch.onnx.export(model, (torch.randn(1, 6),), str(onnx_path), dynamo=False)
    build = tmp_path / "build"
    args = ["tune", str(onnx_path), "--build-dir", str(build), "--finalists", "1", "--max-seconds", "30", "--no-onchain"]
    out = CliRunner().invoke(root, args)
    assert out.exit_code == 0, out.output
    assert "GENERATED" in out.output
    (tuned_path,) = build.glob("*/tuned.json")
    tuned = json.loads(tuned_path.read_text())
    assert tuned["holdout_generated"] is True and tuned["holdout"].startswith("generated")
    # The budget was the baseline's own fidelity: the choice is no less accurate.
    assert tuned["fidelity"]["max_abs_error"] <= tuned["budget"]["max_abs_error"]


def test_tune_rejects_an_invalid_budget(root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(root, ["tune", str(CIRCUITS / "mlp_regressor"), "--min-agreement", "1.5", "--build-dir", str(tmp_path)])
    assert out.exit_code == 2 and "min_agreement" in out.output


def test_tune_unreachable_budget_exits_with_the_best_found(root, mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build = tmp_path / "build"
    args = ["tune", str(CIRCUITS / "mlp_regressor"), "--build-dir", str(build), "--max-abs-error", "1e-9", "--max-seconds", "0"]
    out = CliRunner().invoke(root, args)
    assert out.exit_code == 2, out.output
    assert "error: no configuration met the budget" in out.output and "best found" in out.output
    # The report of what was tried is still written.
    assert (build / "mlp_regressor" / "fidelity_report.png").is_file()


def test_generated_holdout_past_the_default_range_is_left_out(root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A step the calibration samples never cross but a generated held-out sample does (as a tree ensemble's
    branch can): that sample is left out and counted, instead of failing the default and the whole tune."""
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from zkml.config import CircuitSettings
    from zkml.data import Samples, generate_around
    from zkml.tune.workbench import GENERATED_HOLDOUT, GENERATED_SEED

    base = Samples((np.zeros((1, 1)),))
    calibration = generate_around(base, CircuitSettings().calibration_samples).arrays[0]
    holdout = generate_around(base, GENERATED_HOLDOUT, seed=GENERATED_SEED).arrays[0]
    assert holdout.max() > calibration.max()  # the seeds make it so; the step goes between the two
    step = float(calibration.max() + holdout.max()) / 2
    nodes = [
        helper.make_node("Greater", ["x", "t"], ["past"]),
        helper.make_node("Cast", ["past"], ["jump"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["jump", "k"], ["big"]),
        helper.make_node("Add", ["big", "x"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array([[step]], np.float32), "t"), numpy_helper.from_array(np.array([[200.0]], np.float32), "k")]
    graph = helper.make_graph(
        nodes,
        "step",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        inits,
    )
    onnx_path = tmp_path / "models" / "step.onnx"
    onnx_path.parent.mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(onnx_path))
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [[0.0]]}))
    build = tmp_path / "build"
    args = ["tune", str(onnx_path), "--input", str(tmp_path / "input.json"), "--build-dir", str(build)]
    out = CliRunner().invoke(root, [*args, "--finalists", "1", "--max-seconds", "30", "--no-onchain"])
    assert out.exit_code == 0, out.output
    left_out = int((holdout > step).sum())
    assert f"{left_out} outside the default calibration's range left out" in out.output
