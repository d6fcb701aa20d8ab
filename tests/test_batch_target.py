"""``--batch-size B``: the same TARGET addresses the circuit's batch-B workspace, for every command.

The fast tests resolve targets (no ezkl); the slow ones build a batch-2 workspace through the
CLI and take it through verify, verifier, deploy and verify-onchain (the tiny circuit) or the
oracle demo (mlp_regressor) on the session's anvil.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zkml.errors import ConfigError, InputDataError

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "circuits" / "mlp_regressor"


def _cli(*args: str) -> Any:
    from zkml_cli.main import cli

    return CliRunner().invoke(cli, list(args), obj={})


def _claimed(folder: Path, toml: Path) -> None:
    """Make ``folder`` a workspace of the circuit ``toml`` (a manifest naming its model)."""
    from zkml.workspace import Workspace

    Workspace(folder).claim({"name": folder.name, "root": str(toml.parent), "task": "regression", "toml": str(toml)})


def test_batch_size_addresses_the_batch_workspace_of_the_same_target(tmp_path: Path) -> None:
    from zkml_cli.options import resolve_target

    batched = resolve_target(str(MLP), tmp_path, batch_size=16)
    assert batched.workspace == tmp_path / "mlp_regressor" / "batch-16" and batched.batch_size == 16
    assert batched.config.name == "mlp_regressor"
    # B=1 and no option are the unbatched workspace, exactly as before.
    for size in (1, None):
        plain = resolve_target(str(MLP), tmp_path, batch_size=size)
        assert plain.workspace == tmp_path / "mlp_regressor" and plain.batch_size == 1
    # A workspace folder given as TARGET: its batch-B workspace is inside it.
    _claimed(tmp_path / "mlp_regressor", MLP / "zkml.toml")
    inside = resolve_target(str(tmp_path / "mlp_regressor"), batch_size=4)
    assert inside.workspace == tmp_path / "mlp_regressor" / "batch-4" and inside.batch_size == 4


def test_a_batch_folder_given_directly_is_its_own_workspace(tmp_path: Path) -> None:
    from zkml_cli.options import resolve_target

    from zkml.workspace import Layout

    home = tmp_path / "mlp_regressor"
    folder = Layout(home).batch_dir(16)
    folder.mkdir(parents=True)
    Layout(folder).batch_stamp.write_text(json.dumps({"batch_size": 16, "inputs": "x"}))
    # As prove-many leaves it: batch.json only, the model named by the parent workspace's manifest.
    with pytest.raises(ConfigError, match="--batch-size 16") as refused:
        resolve_target(str(folder))
    assert "\n" not in str(refused.value)
    _claimed(home, MLP / "zkml.toml")
    target = resolve_target(str(folder))
    assert (target.workspace, target.batch_size, target.config.name) == (folder, 16, "mlp_regressor")
    assert resolve_target(str(folder), batch_size=16).workspace == folder
    with pytest.raises(ConfigError, match="is the batch-16 circuit, not batch-8"):
        resolve_target(str(folder), batch_size=8)


def test_a_batch_size_below_one_is_one_line_naming_it(tmp_path: Path) -> None:
    from zkml_cli.options import resolve_target

    with pytest.raises(ConfigError, match=r"--batch-size 0: a proof covers 1 or more samples"):
        resolve_target(str(MLP), tmp_path, batch_size=0)
    out = _cli("verify", str(MLP), "--batch-size", "-2", "--build-dir", str(tmp_path))
    assert out.exit_code == 2 and out.output.strip().splitlines() == [
        "error: --batch-size -2: a proof covers 1 or more samples (give --batch-size 1 or more)"
    ]
    assert not (tmp_path / "mlp_regressor").exists()


def test_every_command_on_a_target_takes_batch_size() -> None:
    for command in (
        ("run",), ("prove",), ("verify",), ("verifier",), ("deploy",), ("verify-onchain",), ("estimate",),
        ("oracle", "deploy"), ("oracle", "register"), ("oracle", "attest"), ("oracle", "publish"), ("oracle", "read"),
    ):  # fmt: skip
        out = _cli(*command, "--help")
        assert out.exit_code == 0 and "--batch-size" in out.output, command


def test_a_command_with_its_own_batch_size_keeps_it(tmp_path: Path) -> None:
    """prove-many's --batch-size groups inputs into batches of the plain workspace's circuit: never resolved here."""
    import click
    from zkml_cli.options import circuit_target

    seen = {}

    @click.command()
    @circuit_target
    @click.option("--batch-size", type=int, default=1)
    def own(target: Any, batch_size: int) -> None:
        seen.update(workspace=target.workspace, batch_size=batch_size)

    @click.command()
    @circuit_target(batched=True)
    def shared(target: Any) -> None:
        seen.update(workspace=target.workspace, batch_size=target.batch_size)

    base = (str(MLP), "--batch-size", "4", "--build-dir", str(tmp_path))
    assert CliRunner().invoke(own, base).exit_code == 0
    assert seen == {"workspace": tmp_path / "mlp_regressor", "batch_size": 4}
    assert CliRunner().invoke(shared, base).exit_code == 0
    assert seen == {"workspace": tmp_path / "mlp_regressor" / "batch-4", "batch_size": 4}


def test_the_example_batch_is_the_input_then_calibration_then_padding(tmp_path: Path) -> None:
    from zkml.artifacts import TensorSpec
    from zkml.config import CircuitConfig
    from zkml.proving.batch_workspace import example_batch

    inputs = (TensorSpec("x", (4, 2), "float32"),)
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [[1, 2]]}))
    (tmp_path / "cal.json").write_text(json.dumps({"input_data": [[3, 4, 5, 6]]}))
    config = CircuitConfig(name="c", root=tmp_path, onnx=tmp_path / "m.onnx", input=tmp_path / "input.json")
    padded = example_batch(config, inputs, 4)
    assert padded.taken == {"input": 1, "padding": 3} and padded.padded == 3
    assert padded.samples.arrays[0].tolist() == [[1, 2]] * 4
    with_cal = example_batch(replace(config, calibration=tmp_path / "cal.json"), inputs, 4)
    assert with_cal.taken == {"input": 1, "calibration": 2, "padding": 1}
    assert with_cal.samples.arrays[0].tolist() == [[1, 2], [3, 4], [5, 6], [1, 2]]
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [[1, 2, 3, 4, 5, 6]]}))
    with pytest.raises(InputDataError, match="holds 3 samples; the batch-2 circuit proves 2 per proof"):
        example_batch(config, (TensorSpec("x", (2, 2), "float32"),), 2)


# -- with ezkl and a chain ----------------------------------------------------------------------------


TINY_TOML = """
name = "tiny"
task = "regression"
[model]
onnx = "tiny.onnx"
[data]
input = "input.json"
[circuit]
decomp_base = 1024
decomp_legs = 3
input_visibility = "public"
output_visibility = "public"
param_visibility = "fixed"
"""


@pytest.mark.slow  # 7 s on a quiet 2-core machine, 19 s on a busy one
def test_a_batched_tiny_circuit_goes_to_the_chain_through_the_cli(tmp_path: Path, anvil: Any) -> None:
    from tests.helpers import make_tiny_onnx
    from zkml.workspace import Layout, read_manifest

    circuit, build = tmp_path / "tiny", tmp_path / "build"
    circuit.mkdir()
    make_tiny_onnx(circuit / "tiny.onnx")
    (circuit / "input.json").write_text(json.dumps({"input_data": [[0.5, -0.25, 0.1, 0.9], [0.45, -0.2, 0.12, 0.85]]}))
    (circuit / "zkml.toml").write_text(TINY_TOML)
    target = (str(circuit), "--batch-size", "2", "--build-dir", str(build))
    folder = build / "tiny" / "batch-2"

    proved = _cli("prove", *target)
    assert proved.exit_code == 0 and str(folder / "proof.json") in proved.output, proved.output
    assert len(proved.output.split("outputs:")[1].split(",")) == 4  # 2 samples x 2 outputs
    manifest = read_manifest(folder)
    assert manifest is not None and manifest["info"]["batch"] == {"batch_size": 2}
    assert {"export", "calibrate", "compile", "keys", "prove"} <= set(manifest["stages"])
    assert not (build / "tiny" / "proof.json").exists()  # the batch-1 workspace is untouched

    verified = _cli("verify", *target)
    assert verified.exit_code == 0 and "verified: true" in verified.output, verified.output
    direct = _cli("verify", str(folder))  # the batch folder itself is a workspace
    assert direct.exit_code == 0 and "verified: true" in direct.output, direct.output

    made = _cli("verifier", *target)
    assert made.exit_code == 0 and (Layout(folder).evm_dir() / "Verifier.bin").is_file(), made.output
    deployed = _cli("deploy", *target, "--rpc-url", anvil.url)
    assert deployed.exit_code == 0 and Layout(folder).deployments.is_file(), deployed.output
    checked = _cli("verify-onchain", *target, "--rpc-url", anvil.url, "--json")
    assert checked.exit_code == 0, checked.output
    result = json.loads(checked.output[checked.output.index("{") :])
    assert result["accepted"] and len(result["outputs"][0]) == 4


@pytest.mark.slow  # about 30 s: mlp_regressor's batch-2 keys, then two demos
def test_the_oracle_demo_proves_a_batch_of_consecutive_epochs_through_the_cli(tmp_path: Path, anvil: Any) -> None:
    """``zkml oracle demo --batch-size 2``: one proof of the feed's two newest windows; a re-run on the same chain is no error."""
    from zkml.evm.onchain import read_proof
    from zkml.evm.rpc import connect
    from zkml.oracle import model_spec
    from zkml.oracle.feed import source_instances

    target = (str(MLP), "--batch-size", "2", "--build-dir", str(tmp_path), "--rpc-url", anvil.url)
    for step in ("verifier", "deploy"):
        done = _cli(step, *(target if step == "deploy" else target[:-2]))
        assert done.exit_code == 0, done.output
    shown = _cli("oracle", "demo", *target)
    assert shown.exit_code == 0, shown.output
    assert "epochs " in shown.output and "per prediction" in shown.output, shown.output
    ran = _cli("oracle", "demo", *target, "--json")
    assert ran.exit_code == 0, ran.output
    demo = json.loads(ran.output[ran.output.index("{") :])
    assert demo["registration"]["max_epoch_lag"] >= 1 and len(demo["input"]) == 2 * 8
    assert demo["gas"]["submit_per_prediction"] == demo["gas"]["submit"] // 2
    spec = model_spec(tmp_path / "mlp_regressor" / "batch-2" / "settings.json")
    proved = spec.input_instances(read_proof(Path(demo["proof"])).instances)
    attested, _ = source_instances(connect(anvil.url), demo["source_address"], [demo["epoch"] - 1, demo["epoch"]])
    assert [int(v) for v in proved] == [int(v) for v in attested]
