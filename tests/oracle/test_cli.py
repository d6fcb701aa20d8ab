"""``zkml oracle deploy/register/attest/publish/read/act/demo`` against the session anvil.

The commands run on a copy of the market's prover workspace (tests/oracle/conftest.py),
whose cached proof is of the feed's latest window: ``attest`` at that epoch reuses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from ..conftest import CIRCUITS
from .conftest import Market, World, copy_workspace
from .steps import proof_of


def _cli() -> click.Group:
    from zkml_cli.main import cli

    return cli


def test_oracle_commands(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    build = tmp_path / "build"
    copy_workspace(market.prover_build / mlp.workspace.name, build)
    runner = CliRunner()
    common = [str(CIRCUITS / "mlp_regressor"), "--build-dir", str(build), "--rpc-url", chain.node.url, "--json"]

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(_cli(), ["oracle", *args, *common], obj={})
        assert result.exit_code == code, result.output
        return json.loads(result.output) if code == 0 else result.output

    deployed = run("deploy")
    assert deployed["oracle"]["address"] and "consumer" not in deployed
    # --feed deploys the returns source over the feed (recorded in the workspace) and registers attested.
    registered = run("register", "--feed", market.feed, "--max-age", "900")
    assert registered["max_age"] == 900 and not registered["reused"] and registered["source"]
    assert registered["max_epoch_lag"] == mlp.pipeline.config.feed.max_epoch_lag
    assert registered["bounds"] == [list(b) for b in market.bounds]
    assert run("register")["reused"]  # the recorded source: the same attested model

    out = run("publish", "--proof", str(proof_of(mlp)), "--epoch", str(market.latest), code=2)  # a chosen input
    assert "InputNotAttested(" in out and "zkml oracle attest" in out
    out = run("publish", code=2)  # the feed's window, without its epoch
    assert "AttestationRequired(" in out and "--epoch" in out

    # Bad epochs are refused by name before anything is proved (issue 22: --epoch -1 once said "models returned 0 bytes").
    for bad, words in (
        ("-1", "epoch -1 is negative"),
        (str(2**80), f"epoch {2**80} is beyond the largest round id"),
        (str(market.latest + 5), f"epoch {market.latest + 5} is past the feed's latest epoch {market.latest}"),
    ):
        out = run("attest", "--feed", market.feed, "--epoch", bad, code=2)
        assert words in out and len(out.strip().splitlines()) == 1, out
    attested = run("attest", "--feed", market.feed)
    assert attested["epoch"] == market.latest and not attested["publication"]["replayed"]
    published = attested["publication"]["prediction"]
    assert published["epoch"] == market.latest and published["model_id"] == registered["model_id"]
    out = run("publish", "--epoch", str(market.latest), code=2)  # the workspace's proof: that same window
    assert "Replay(" in out and "zkml oracle read" in out
    assert run("publish", "--epoch", str(market.latest), "--read-if-published")["prediction"] == published

    assert run("read", "--epoch", str(market.latest))["prediction"] == published
    deployed = run("deploy", "--consumer")
    assert deployed["oracle"]["reused"] and deployed["consumer"]["address"]
    read = run("read", "--consumer")
    assert read["prediction"] == published and read["read_gas_estimate"] > 0
    assert read["consumer"]["address"] == deployed["consumer"]["address"]
    out = run("act", "--index", "0", code=2)  # a one-feed model has no feed vaults: none recorded, told how to deploy one
    assert "no vault recorded" in out and "--feed-index 0" in out and len(out.strip().splitlines()) == 1, out
    acted = run("act")  # the recorded vault acts on the published latest epoch
    assert acted["consumer"]["address"] == deployed["consumer"]["address"] and acted["gas_used"] > 0
    assert acted["consumer"]["last_epoch"] == market.latest and acted["consumer"]["last_prediction_id"] == published["prediction_id"]
    assert run("read", "--consumer")["consumer"] == acted["consumer"]
    out = run("act", code=2)  # nothing newer to act on: the vault's refusal, in one line
    assert "NotNewer" in out and len(out.strip().splitlines()) == 1, out


def test_oracle_demo_needs_a_demo_series(chain: World, tiny: Any, tmp_path: Path) -> None:
    """`zkml oracle demo` runs for any circuit whose [feed] names a demo series; tiny declares none."""
    assert tiny.pipeline.config.consumer is None and tiny.pipeline.config.feed is None
    workspace = copy_workspace(tiny.workspace, tmp_path)
    args = ["oracle", "demo", str(workspace), "--rpc-url", chain.node.url, "--json"]
    result = CliRunner().invoke(_cli(), args, obj={})
    assert result.exit_code != 0 and "demo_series" in result.output, result.output
