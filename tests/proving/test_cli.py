"""`zkml prove-many` (and `zkml prove --inputs`) through click's CliRunner; the harness as `python -m benchmarks.harness`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tests.helpers import public_instances


@pytest.fixture(scope="module")
def perf_cli() -> click.Group:
    """The zkml group (it loads prove-many on first use)."""
    from zkml_cli.main import cli

    return cli


@pytest.fixture
def build(tiny: Any, tmp_path: Path) -> Path:
    """A build folder holding a private copy of the tiny workspace (keys included)."""
    folder = tmp_path / "build"
    shutil.copytree(tiny.workspace, folder / tiny.workspace.name)
    return folder


def test_prove_many_over_a_folder_reuses_the_workspace_and_reports_json(
    perf_cli: click.Group, tiny: Any, tiny_inputs: list[Path], serial: Any, build: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for path in tiny_inputs:
        shutil.copy(path, folder / path.name)
    config = tiny.pipeline.config
    result = CliRunner().invoke(
        perf_cli,
        [
            "prove-many",
            str(config.onnx),
            str(folder),
            "--input",
            str(config.input),
            "--build-dir",
            str(build),
            "--device",
            "cpu",
            "--json",
            "-",
        ],
        obj={},
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["backend"] == "warm" and summary["device"]["used"] == "cpu"
    assert [Path(p["input"]).name for p in summary["proofs"]] == [p.name for p in tiny_inputs]
    assert all(p["verified"] for p in summary["proofs"])
    # Keys came from the copied workspace (no new setup): same public instances as the serial run.
    assert [public_instances(type(r.proof)(Path(p["proof"]), "", 0)) for r, p in zip(serial.results, summary["proofs"], strict=True)] == (
        serial.instances
    )
    manifest = json.loads((build / tiny.workspace.name / "manifest.json").read_text())
    assert manifest["info"]["device"]["used"] == "cpu"


def test_prove_with_many_inputs_takes_the_warm_path(
    perf_cli: click.Group, tiny: Any, tiny_inputs: list[Path], serial: Any, build: Path, tmp_path: Path
) -> None:
    from zkml.prove import load_proof

    jsonl = tmp_path / "inputs.jsonl"
    jsonl.write_text("".join(path.read_text().strip() + "\n" for path in tiny_inputs[:2]))
    config = tiny.pipeline.config
    result = CliRunner().invoke(
        perf_cli, ["prove", str(config.onnx), "--input", str(config.input), "--inputs", str(jsonl), "--build-dir", str(build)], obj={}
    )
    assert result.exit_code == 0, result.output
    assert "2 proofs (1 inference each)" in result.output and "warm, in-process" in result.output
    proofs = sorted((build / tiny.workspace.name / "proofs").glob("*.proof.json"))
    assert len(proofs) == 2
    # The same public instances as the serial reference, in input order.
    assert [public_instances(load_proof(p)) for p in proofs] == serial.instances[:2]


def test_gpu_request_without_gpu_is_one_line_and_exit_2(perf_cli: click.Group, tiny: Any, tiny_inputs: list[Path], build: Path) -> None:
    config = tiny.pipeline.config
    result = CliRunner().invoke(
        perf_cli,
        ["prove-many", str(config.onnx), str(tiny_inputs[0]), "--input", str(config.input), "--build-dir", str(build), "--device", "gpu"],
        obj={},
        env={"ICICLE_BACKEND_INSTALL_DIR": "", "ZKML_EZKL_BIN": ""},
    )
    assert result.exit_code == 2
    assert "no usable GPU prover" in result.output and "docs/gpu.md" in result.output


def test_the_harness_runs_as_a_module_of_the_checkout() -> None:
    import subprocess
    import sys

    # hummingbird-ml installs a top-level `benchmarks` package too; `python -m` from the checkout
    # puts the checkout first on sys.path, so no import tricks are needed.
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.harness", "--help"], cwd=repo, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--warm-inputs" in result.stdout and "--batch-sizes" in result.stdout
