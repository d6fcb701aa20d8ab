"""The whole flow on anvil: a feed filled with the example series, an attested proof, the vault acting on it.

The demo proves in the workspace it is given, so it runs in a copy of the market's
prover workspace (tests/oracle/conftest.py), whose cached proof is of the same
window the demo's feed ends with: the prove stage is reused, not run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.artifacts import sha256_file
from zkml.config import ConsumerConfig, FeedConfig
from zkml.errors import OracleError, OracleRevertError
from zkml.evm.felts import felt_to_int
from zkml.evm.onchain import decode_instances, read_proof
from zkml.evm.records import DeploymentStore
from zkml.oracle.compile import CONSUMER_CONTRACT, FEED_CONTRACT, ORACLE_CONTRACT, SOURCE_CONTRACT
from zkml.oracle.feed import latest_round, source_instances
from zkml.workspace import Layout

from .conftest import Market, World, copy_workspace
from .steps import expected_target


@pytest.fixture
def prover(market: Market, mlp: Any, tmp_path: Path) -> Any:
    """A private copy of the market's prover workspace, as a pipeline."""
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    source = market.prover_build / mlp.workspace.name
    return Pipeline(mlp.pipeline.config, Workspace(copy_workspace(source, tmp_path / "build")))


def test_demo_flow_ends_with_the_vault_acting_on_an_attested_prediction(market: Market, chain: World, prover: Any) -> None:
    layout = Layout(Path(prover.ws.root))
    runs_own = {name: sha256_file(path) for name, path in (("input", layout.input), ("proof", layout.proof))}
    result = orc.demo_flow(prover, chain.conn, sender=chain.owner, verifier=chain.mlp_verifier)
    # The demo proves into attested/: the workspace's input and proof are still the run's.
    assert {name: sha256_file(path) for name, path in (("input", layout.input), ("proof", layout.proof))} == runs_own
    assert Path(result["proof"]).parent == layout.root / "attested"
    epoch = result["epoch"]
    feed_config = prover.config.feed
    assert epoch == feed_config.demo_rounds  # a fresh feed holding the example series' last demo_rounds prices
    # The proof the demo published is on the feed's own window at that epoch, as the source attests it.
    spec = orc.model_spec(layout.settings)
    instances = read_proof(Path(result["proof"])).instances
    attested, _ = source_instances(chain.conn, result["source_address"], [epoch], contracts=chain.contracts)
    assert list(spec.input_instances(instances)) == attested
    assert result["input"] == [felt_to_int(v) / 2**spec.input_scale for v in attested]
    prediction = result["prediction"]
    assert prediction["floats"] == list(decode_instances(instances, layout.settings).outputs[0])
    model_id = bytes.fromhex(result["model_id"].removeprefix("0x"))
    assert prediction["epoch"] == epoch and prediction["prediction_id"] == "0x" + orc.prediction_id(model_id, epoch).hex()
    assert prediction["data_timestamp"] == latest_round(chain.conn, result["feed_address"], contracts=chain.contracts).updated_at
    registration = result["registration"]
    assert registration["source"].lower() == result["source_address"].lower() and registration["max_epoch_lag"] == feed_config.max_epoch_lag
    assert registration["bounds"] == [list(b) for b in market.bounds]
    assert result["replayed"] is False and result["consumer_note"] == ""
    for step in ("deploy_oracle", "deploy_feed", "push_rounds", "deploy_source", "register", "deploy_consumer", "submit", "read", "act"):
        assert isinstance(result["gas"][step], int) and result["gas"][step] > 0, step
    # The vault acted on exactly that prediction, with its [consumer] policy and step cap.
    policy = prover.config.consumer
    wad = orc.to_wad(prediction["values"][0], prediction["scale"])
    state = result["consumer"]
    assert (state["last_epoch"], state["last_prediction_id"], state["last_forecast_wad"]) == (epoch, prediction["prediction_id"], wad)
    assert state["target_risky_bps"] == expected_target(policy.neutral_bps, wad, policy)[1]
    # Everything is recorded next to the verifier, in the one deployments record.
    store = DeploymentStore.of(layout.root)
    for name, key in ((ORACLE_CONTRACT, "oracle_address"), (CONSUMER_CONTRACT, "consumer_address"), (FEED_CONTRACT, "feed_address"),
                      (SOURCE_CONTRACT, "source_address")):  # fmt: skip
        assert store.latest(chain.conn.chain_id, name).address == result[key], name  # type: ignore[union-attr]

    # A re-run reuses the contracts and pushes the series again: the same window at a new epoch
    # publishes (its proof is reused), and the vault, still cooling down, says so instead of failing.
    again = orc.demo_flow(prover, chain.conn, sender=chain.owner, verifier=chain.mlp_verifier)
    assert again["epoch"] == 2 * epoch and again["input"] == result["input"]
    for key in ("oracle_address", "feed_address", "source_address", "consumer_address", "model_id"):
        assert again[key] == result[key], key
    assert again["gas"]["register"] is None and again["gas"]["deploy_consumer"] is None and again["gas"]["deploy_source"] is None
    assert again["replayed"] is False and again["gas"]["submit"] > 0
    assert again["prediction"]["prediction_id"] != prediction["prediction_id"] and again["prediction"]["values"] == prediction["values"]
    assert "CooldownActive" in again["consumer_note"] and again["consumer"]["last_epoch"] == epoch


def test_demo_flow_takes_the_consumer_policy_from_the_config(market: Market, chain: World, prover: Any) -> None:
    policy = ConsumerConfig(neutral_bps=2_000, bps_per_output_unit=50_000, max_step_bps=300, cooldown=0, max_age=900)
    result = orc.demo_flow(prover, chain.conn, consumer=policy, sender=chain.owner, verifier=chain.mlp_verifier)
    assert result["registration"]["max_age"] == 900
    assert result["prediction"]["expires_at"] == result["prediction"]["data_timestamp"] + 900
    wad = result["consumer"]["last_forecast_wad"]
    assert result["consumer"]["target_risky_bps"] == expected_target(policy.neutral_bps, wad, policy)[1]
    # Another policy is another vault: the recorded one is not reused for it.
    other = orc.demo_flow(prover, chain.conn, consumer=ConsumerConfig(), sender=chain.owner, verifier=chain.mlp_verifier)
    assert other["consumer_address"] != result["consumer_address"] and other["gas"]["deploy_consumer"]
    assert other["consumer_note"] == "" and other["consumer"]["last_epoch"] == other["epoch"]


def test_demo_needs_a_demo_series(chain: World, prover: Any) -> None:
    with pytest.raises(OracleError, match="demo_series"):
        orc.demo_flow(prover, chain.conn, feed=FeedConfig(), sender=chain.owner, verifier=chain.mlp_verifier)


def test_demo_through_the_reusable_verifier_pins_the_vka(market: Market, chain: World, prover: Any) -> None:
    # What `zkml run` does for a model whose plain verifier is over EIP-170: the reusable verifier, the VKA pinned.
    deployment, _, vka = prover.deploy_reusable(chain.conn, sender=chain.owner)
    result = orc.demo_flow(prover, chain.conn, sender=chain.owner, verifier=deployment.address, reusable=True)
    registration = result["registration"]
    assert result["verifier_kind"] == "reusable+vka" and registration["verifier"].lower() == deployment.address.lower()
    assert registration["vka_digest"] == vka.digest
    assert result["consumer_note"] == "" and result["gas"]["act"] > 0 and result["prediction"]["epoch"] == result["epoch"]
    # Without the VKA, or with another, the same proof is refused.
    model_id = bytes.fromhex(result["model_id"].removeprefix("0x"))
    for words, error in ((None, "VkaRequired"), ([*vka.words[:-1], b"\0" * 32], "VkaMismatch")):
        with pytest.raises(OracleRevertError) as info:
            orc.publish(chain.conn, result["oracle_address"], model_id, Path(result["proof"]), epochs=[result["epoch"]],
                        vka_words=words, sender=chain.owner, contracts=chain.contracts)  # fmt: skip
        assert info.value.error == error
