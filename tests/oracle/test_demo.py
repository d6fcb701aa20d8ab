"""The whole flow on anvil: from the example circuit to the consumer acting on its verified prediction."""

from __future__ import annotations

from typing import Any

from zkml import oracle as orc
from zkml.config import ConsumerConfig
from zkml.evm.onchain import decode_instances, read_proof
from zkml.evm.records import DeploymentStore
from zkml.oracle.compile import CONSUMER_CONTRACT, ORACLE_CONTRACT
from zkml.workspace import Layout

from .conftest import World
from .steps import ws


def _expected_bps(wad: int, policy: ConsumerConfig) -> int:
    shift = abs(wad) * policy.bps_per_unit_return // 10**18 * (1 if wad >= 0 else -1)  # Solidity truncates toward zero
    return min(10_000, max(0, policy.neutral_bps + shift))


def test_demo_flow_from_example_to_consumer(chain: World, mlp: Any) -> None:
    result = orc.demo_flow(mlp.pipeline, chain.conn, sender=chain.owner, verifier=chain.mlp_verifier)
    layout = Layout(ws(mlp))
    instances = read_proof(layout.proof).instances
    expected = decode_instances(instances, layout.settings).outputs[0]
    spec = orc.model_spec(layout.settings)
    assert spec.binding == "public" and spec.instance_count == 9 and spec.output_offset == 8
    prediction = result["prediction"]
    assert prediction["floats"] == list(expected)
    assert prediction["scale"] == spec.scale
    assert prediction["input_commitment"] == "0x" + orc.input_commitment(instances[:8]).hex()
    assert result["replayed"] is False
    assert all(isinstance(result["gas"][k], int) and result["gas"][k] > 0 for k in ("register", "submit", "read", "act"))
    # The vault applied its policy to exactly the verified forecast.
    wad = orc.to_wad(prediction["values"][0], prediction["scale"])
    assert result["consumer"]["target_risky_bps"] == _expected_bps(wad, ConsumerConfig())
    assert result["consumer"]["last_forecast_wad"] == wad
    assert result["consumer"]["last_prediction_id"] == prediction["prediction_id"]
    # The oracle and the vault are recorded next to the verifier, in the one deployments record.
    store = DeploymentStore.of(layout.root)
    assert store.latest(chain.conn.chain_id, ORACLE_CONTRACT).address == result["oracle_address"]  # type: ignore[union-attr]
    assert store.latest(chain.conn.chain_id, CONSUMER_CONTRACT).address == result["consumer_address"]  # type: ignore[union-attr]

    # A re-run reuses everything and says the input was already published instead of failing.
    again = orc.demo_flow(mlp.pipeline, chain.conn, sender=chain.owner, verifier=chain.mlp_verifier)
    assert again["replayed"] is True and again["oracle_address"] == result["oracle_address"]
    assert again["consumer_address"] == result["consumer_address"]
    assert again["gas"]["submit"] is None and again["gas"]["register"] is None
    assert again["prediction"] == prediction
    assert "AlreadyApplied" in again["consumer_note"]


def test_demo_flow_takes_the_consumer_policy_from_the_config(chain: World, mlp: Any) -> None:
    policy = ConsumerConfig(neutral_bps=2_000, bps_per_unit_return=50_000, max_age=900)
    result = orc.demo_flow(ws(mlp), chain.conn, consumer=policy, sender=chain.owner, verifier=chain.mlp_verifier)
    assert result["registration"]["max_age"] == 900
    wad = result["consumer"]["last_forecast_wad"]
    assert result["consumer"]["target_risky_bps"] == _expected_bps(wad, policy)
    # Another policy is another vault: the recorded one is not reused for it.
    other = orc.demo_flow(ws(mlp), chain.conn, consumer=ConsumerConfig(), sender=chain.owner, verifier=chain.mlp_verifier)
    assert other["consumer_address"] != result["consumer_address"] and other["gas"]["deploy_consumer"]
