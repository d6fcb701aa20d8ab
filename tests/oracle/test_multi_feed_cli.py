"""Issue 25's multi-feed flow from the command line only: `zkml feed deploy --count K`, `feed push --series --offset`,
`oracle register/attest --feed ×K`, `oracle read --index/--feed`, `oracle deploy --feed-index`, `oracle act --index`,
on a batch-2 build of circuits/mlp_regressor.

The same commands at B=16 over 16 feeds are the issue's must-show (129,406 gas per prediction, see
benchmarks/results/oracle_gas.md); B=2 keeps the build to seconds. Everything runs through click on the
session anvil (reverted after the test); nothing is called from Python but the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from ..conftest import CIRCUITS

pytestmark = pytest.mark.slow  # builds, keys and proves a batch-2 circuit (about a minute)
K = 2


def _cli() -> click.Group:
    from zkml_cli.main import cli

    return cli


def test_k_feeds_at_one_epoch_from_the_cli(conn: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    circuit = str(CIRCUITS / "mlp_regressor")
    chain = ["--rpc-url", conn.url, "--json"]
    target = [circuit, "--build-dir", str(tmp_path / "build"), "--batch-size", str(K)]

    def run(*args: str, code: int = 0, on_chain: bool = True) -> Any:
        result = runner.invoke(_cli(), [*args, *(chain if on_chain else ["--json"])], obj={})
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if code == 0 else result.output

    run("oracle", "deploy", *target)
    deployed = run("feed", "deploy", "--count", str(K), "--record-dir", str(tmp_path / "feeds"))
    feeds = [f["address"] for f in deployed["feeds"]]
    assert len(set(feeds)) == K
    for k, feed in enumerate(feeds):
        # Feed k ends k prices early: at one round the K windows differ, as different assets' would.
        run("feed", "push", feed, "--series", circuit, "--offset", str(k), "--rounds", "12")
    run("verifier", *target, on_chain=False)
    run("deploy", *target)
    feed_args = [a for feed in feeds for a in ("--feed", feed)]
    registered = run("oracle", "register", *target, *feed_args)
    assert registered["model_id"]

    # One feed too few is not this model: refused with one line before anything is proved.
    out = run("oracle", "attest", *target, "--feed", feeds[0], code=2)
    assert f"registered over {K} feeds; 1 given" in out, out
    assert not (tmp_path / "build" / "mlp_regressor" / f"batch-{K}" / "attested").exists()

    attested = run("oracle", "attest", *target, *feed_args)
    batch = attested["publication"]["batch"]
    assert len(batch) == K and len({p["epoch"] for p in batch}) == 1
    assert batch[0]["floats"] != batch[1]["floats"]  # two assets, two windows, two predictions
    for k, feed in enumerate(feeds):
        by_index = run("oracle", "read", *target, "--index", str(k))["prediction"]
        by_feed = run("oracle", "read", *target, "--feed", feed)["prediction"]
        assert by_index == by_feed and by_index["floats"] == batch[k]["floats"] and by_index["epoch"] == batch[k]["epoch"]

    again = run("oracle", "attest", *target, *feed_args)  # the same epoch again: nothing new, nothing sent
    assert again["replayed"] is True and again.get("publication") is None

    # Each asset's FeedForecastVault, deployed and acting from the CLI on its own feed's prediction.
    vaults = run("oracle", "deploy", *target, *(a for k in range(K) for a in ("--feed-index", str(k))))["feed_consumers"]
    assert [v["feed_index"] for v in vaults] == list(range(K)) and len({v["address"] for v in vaults}) == K
    for k in range(K):
        acted = run("oracle", "act", *target, "--index", str(k))["consumer"]
        assert acted["address"] == vaults[k]["address"] and acted["last_prediction_id"] == batch[k]["prediction_id"]
        assert run("oracle", "read", *target, "--index", str(k), "--consumer")["consumer"] == acted
    out = run("oracle", "act", *target, "--index", "0", code=2)
    assert "NotNewer" in out, out
