"""The EVM CLI commands, and `chain up/down/status` with a real detached anvil."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from zkml.errors import ChainError
from zkml.evm import anvil as anvil_mod
from zkml.evm.context import RPC_URL_ENV, chain_url
from zkml.workspace import Layout


@pytest.fixture
def app() -> click.Group:
    from zkml_cli.main import cli

    return cli


def test_chain_up_status_down(app, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(RPC_URL_ENV, raising=False)
    runner = CliRunner()
    try:
        up = runner.invoke(app, ["chain", "up"])
        assert up.exit_code == 0 and "started" in up.output, up.output
        node = anvil_mod.chain_status()
        assert node is not None and anvil_mod.rpc_chain_id(node.url) == 31337
        assert chain_url(None) == node.url
        again = runner.invoke(app, ["chain", "up"])
        assert "already running" in again.output
        status = runner.invoke(app, ["chain", "status", "--json"])
        assert json.loads(status.output)["pid"] == node.pid
    finally:
        down = runner.invoke(app, ["chain", "down"])
    assert down.exit_code == 0 and "stopped" in down.output
    assert anvil_mod.chain_status() is None
    with pytest.raises(ChainError, match="chain up"):
        chain_url(None)


def test_verifier_deploy_verify_via_cli(app, conn, mlp, tiny, tmp_path) -> None:
    runner = CliRunner()
    c = mlp
    out = tmp_path / "v"
    made = runner.invoke(
        app, ["verifier", "--vk", str(c.vk), "--settings", str(c.settings), "--srs", str(c.srs), "--out", str(out), "--json"]
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["runtime_bytes"] > 0
    deployed = runner.invoke(app, ["deploy", "--verifier-dir", str(out), "--rpc-url", conn.url, "--json"])
    assert deployed.exit_code == 0, deployed.output
    address = json.loads(deployed.output)["verifier"]["address"]
    ok = runner.invoke(
        app, ["verify-onchain", "--address", address, "--proof", str(c.proof), "--rpc-url", conn.url, "--settings", str(c.settings)]
    )
    assert ok.exit_code == 0 and "accepted" in ok.output, ok.output
    bad = runner.invoke(app, ["verify-onchain", "--address", address, "--proof", str(tiny.proof), "--rpc-url", conn.url])
    assert bad.exit_code == 1 and "rejected" in bad.output
    wrong = runner.invoke(app, ["deploy", "--verifier-dir", str(out), "--rpc-url", conn.url, "--chain-id", "1"])
    # The root group turns the ChainError (WrongChainError) into one line and exit code 2.
    assert wrong.exit_code == 2 and "serves chain id 31337, expected 1" in wrong.output


def test_workspace_driven_verifier_deploy_verify(mlp, anvil, tmp_path) -> None:
    """A workspace folder as TARGET (`build/<circuit>`) fills in keys, settings, SRS, proof and the recorded address."""
    import shutil

    from zkml_cli.main import cli

    ws = tmp_path / "mlp_regressor"
    shutil.copytree(mlp.workspace, ws)
    runner = CliRunner()
    made = runner.invoke(cli, ["verifier", str(ws)], obj={})
    assert made.exit_code == 0, made.output
    assert (Layout(ws).evm_dir() / "Verifier.bin").is_file()
    deployed = runner.invoke(cli, ["deploy", str(ws), "--rpc-url", anvil.url], obj={})
    assert deployed.exit_code == 0, deployed.output
    checked = runner.invoke(cli, ["verify-onchain", str(ws), "--rpc-url", anvil.url], obj={})
    assert checked.exit_code == 0 and "accepted" in checked.output, checked.output
    assert "public outputs" in checked.output
    # A tampered proof through the same defaults: rejected, exit 1.
    from tests.helpers import flip_proof_byte

    flip_proof_byte(Layout(ws).proof, tmp_path / "bad.json")
    rejected = runner.invoke(cli, ["verify-onchain", str(ws), "--rpc-url", anvil.url, "--proof", str(tmp_path / "bad.json")], obj={})
    assert rejected.exit_code == 1 and "rejected" in rejected.output
