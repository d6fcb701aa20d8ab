"""``zkml oracle deploy/register/publish/read`` against the session anvil."""

from __future__ import annotations

import json
from typing import Any

import click
from click.testing import CliRunner

from ..conftest import CIRCUITS
from .conftest import World


def _cli() -> click.Group:
    from zkml_cli.main import cli

    return cli


def test_oracle_commands(chain: World, mlp: Any) -> None:
    runner = CliRunner()
    common = [str(CIRCUITS / "mlp_regressor"), "--build-dir", str(mlp.build_dir), "--rpc-url", chain.node.url, "--json"]

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(_cli(), ["oracle", *args, *common], obj={})
        assert result.exit_code == code, result.output
        return json.loads(result.output) if code == 0 else result.output

    deployed = run("deploy")
    assert deployed["oracle"]["address"] and deployed["consumer"]["address"]
    registered = run("register", "--verifier", chain.mlp_verifier, "--max-age", "900")
    assert registered["max_age"] == 900 and not registered["reused"]
    assert run("register", "--verifier", chain.mlp_verifier)["reused"]
    published = run("publish")
    assert published["gas_used"] > 0 and not published["replayed"]
    out = run("publish", code=2)
    assert "Replay(" in out and "zkml oracle read" in out
    assert run("publish", "--read-if-published")["replayed"]
    read = run("read", "--consumer")
    assert read["prediction"] == published["prediction"] and read["read_gas_estimate"] > 0
    assert read["consumer"]["address"] == deployed["consumer"]["address"]


def test_oracle_demo_runs_for_any_circuit_when_asked(chain: World, tiny: Any) -> None:
    """`zkml run` skips the demo for a circuit without [consumer]; `zkml oracle demo` runs it on request."""
    assert tiny.pipeline.config.consumer is None
    args = ["oracle", "demo", str(tiny.workspace), "--rpc-url", chain.node.url, "--json"]
    result = CliRunner().invoke(_cli(), args, obj={})
    assert result.exit_code == 0, result.output
    demo = json.loads(result.output)
    assert demo["gas"]["submit"] > 0 and not demo["replayed"]
    assert 0 <= demo["consumer"]["target_risky_bps"] <= 10_000
