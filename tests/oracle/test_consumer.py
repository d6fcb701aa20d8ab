"""The ForecastVault on anvil: pinned to one oracle and one attested model, acting on its latest fresh prediction.

Old predictions, cooldowns and the step cap (issue 11's attack 5) are in tests/oracle/test_attacks.py;
the feed's-latest-epoch rule and the reorder attack (issue 22) in tests/oracle/test_vault_epoch.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.config import ConsumerConfig
from zkml.errors import OracleRevertError, StalePredictionError
from zkml.evm.records import DeploymentStore
from zkml.oracle.compile import CONSUMER_CONTRACT, ORACLE_CONTRACT
from zkml.oracle.feed import latest_round

from .conftest import Market, World
from .steps import expected_target, increase_time, publish, push_flat, rebalance, register_attested, vault, ws


def test_vault_applies_its_policy_to_the_latest_attested_prediction(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register_attested(chain, mlp, market)
    consumer = vault(chain, reg.model_id, tmp_path)
    with pytest.raises(OracleRevertError) as info:  # nothing published yet
        rebalance(chain, consumer)
    assert info.value.error == "NoPrediction"
    p = publish(chain, reg.model_id, market.proof, epochs=[market.latest]).prediction
    state, gas = orc.consumer_act(chain.conn, consumer, sender=chain.stranger, contracts=chain.contracts)
    wad = orc.to_wad(p.values[0], p.scale)
    policy = ConsumerConfig()
    assert gas > 0 and state.model_id == reg.model_id and state.last_forecast_wad == wad
    assert (state.last_epoch, state.last_prediction_id) == (market.latest, orc.prediction_id(reg.model_id, market.latest))
    assert state.target_risky_bps == expected_target(policy.neutral_bps, wad, policy)[1]
    assert state.last_rebalance > 0 and state.as_dict()["last_forecast"] == wad / 1e18


def test_policy_matches_its_python_mirror(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register_attested(chain, mlp, market)
    policy = ConsumerConfig(neutral_bps=3_000, bps_per_output_unit=2_500, max_step_bps=700, cooldown=0)
    consumer = vault(chain, reg.model_id, tmp_path, policy)
    contract = chain.conn.w3.eth.contract(address=consumer, abi=chain.contracts.consumer.abi_list)
    # targetFor is the uncapped policy: neutral + bps per output unit * forecast, clamped, truncated toward zero.
    for wad in (0, 1, -1, 10**18, -(10**18), 123_456_789_012_345_678, -(7 * 10**17) - 3, 10**22, -(10**22)):
        assert contract.functions.targetFor(wad).call() == expected_target(policy.neutral_bps, wad, policy)[0], wad
    assert [contract.functions.maxStepBps().call(), contract.functions.cooldown().call()] == [700, 0]


def test_stale_prediction_refused(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register_attested(chain, mlp, market, max_age=3600)
    flat = push_flat(chain, market, 9)  # a window nobody publishes before it goes stale
    p = publish(chain, reg.model_id, market.proof, epochs=[market.latest]).prediction
    consumer = vault(chain, reg.model_id, tmp_path)
    prediction, gas = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert gas > 0 and prediction == p
    # Freshness runs from the data's timestamp (the feed round's), not from the submission.
    flat_time = latest_round(chain.conn, market.feed, contracts=chain.contracts).updated_at
    increase_time(chain, flat_time + 3600 - chain.conn.w3.eth.get_block("latest")["timestamp"] + 10)
    with pytest.raises(StalePredictionError) as info:
        orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert info.value.error == "Stale" and info.value.values[:2] == (p.prediction_id, p.expires_at)
    with pytest.raises(StalePredictionError):
        rebalance(chain, consumer)
    # A proof on data older than maxAge does not publish at all.
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, market.flat_proof, epochs=[flat])
    assert info.value.error == "StaleData" and info.value.values == (flat, flat_time, flat_time + 3600)


def test_deployments_are_recorded_and_reused(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    first = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    again = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert not first.reused and again.reused and again.address == first.address
    ids = []
    for model_id in (None, b"\1" * 32):
        ids.append(
            orc.register_workspace(
                chain.conn, first.address, ws(mlp), model_id=model_id, verifier=chain.mlp_verifier, feature_source=market.source,
                max_epoch_lag=4, sender=chain.owner, contracts=chain.contracts,
            ).model_id
        )  # fmt: skip
    model_id, other_id = ids
    deploy = orc.deploy_consumer
    consumer = deploy(chain.conn, first.address, model_id, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert deploy(chain.conn, first.address, model_id, tmp_path, sender=chain.owner, contracts=chain.contracts).reused
    other = deploy(chain.conn, first.address, other_id, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert not other.reused and other.address != consumer.address
    store = DeploymentStore.of(tmp_path)
    names = sorted(d.name for d in store.find(chain.conn.chain_id))
    assert names == [CONSUMER_CONTRACT, CONSUMER_CONTRACT, ORACLE_CONTRACT]
    assert store.latest(chain.conn.chain_id, CONSUMER_CONTRACT, model_id="0x" + model_id.hex()) == consumer
    # Another policy for the same pins is another vault, and takes the slot over.
    bolder = ConsumerConfig(neutral_bps=9_000, max_step_bps=50)
    moved = deploy(chain.conn, first.address, model_id, tmp_path, config=bolder, sender=chain.owner, contracts=chain.contracts)
    assert not moved.reused and moved.address != consumer.address
    assert orc.consumer_state(chain.conn, moved.address, contracts=chain.contracts).target_risky_bps == 9_000
    assert store.latest(chain.conn.chain_id, CONSUMER_CONTRACT, model_id="0x" + model_id.hex()) == moved


def test_consumer_state_of_something_else_is_an_error(chain: World) -> None:
    from zkml.errors import ZkmlError

    with pytest.raises(ZkmlError):
        orc.consumer_state(chain.conn, chain.oracle, contracts=chain.contracts)
