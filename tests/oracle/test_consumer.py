"""The ForecastVault on anvil: pinned to one oracle and model, acting only on fresh, vouched predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.config import ConsumerConfig
from zkml.errors import OracleRevertError, StalePredictionError
from zkml.evm.felts import FIELD_MODULUS
from zkml.evm.onchain import read_proof
from zkml.evm.records import DeploymentStore
from zkml.oracle.compile import CONSUMER_CONTRACT, ORACLE_CONTRACT

from .conftest import World
from .steps import increase_time, proof_of, publish, register, vault, ws


def test_consumer_acts_only_on_vouched_inputs(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    publish(chain, reg.model_id, proof_of(mlp))
    consumer = vault(chain, reg.model_id, tmp_path)
    inputs = list(read_proof(proof_of(mlp)).instances[:8])
    wrong = [*inputs[:-1], (inputs[-1] + 1) % FIELD_MODULUS]
    with pytest.raises(OracleRevertError) as info:
        orc.consumer_act(chain.conn, consumer, input_instances=wrong, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "NoPrediction"
    state, gas = orc.consumer_act(chain.conn, consumer, input_instances=inputs, sender=chain.owner, contracts=chain.contracts)
    assert gas > 0 and state.last_prediction_id == orc.prediction_id(reg.model_id, orc.input_commitment(inputs))


def test_stale_prediction_refused(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register(chain, mlp, chain.mlp_verifier, max_age=600)
    publish(chain, reg.model_id, proof_of(mlp))
    consumer = vault(chain, reg.model_id, tmp_path)
    prediction, gas = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert gas > 0 and prediction.values
    increase_time(chain, 601)
    with pytest.raises(StalePredictionError) as info:
        orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert info.value.error == "Stale" and info.value.values[2] == 600
    with pytest.raises(StalePredictionError):
        orc.consumer_act(chain.conn, consumer, sender=chain.owner, contracts=chain.contracts)


def test_consumer_refuses_another_models_prediction(chain: World, mlp: Any, tiny: Any, tmp_path: Path) -> None:
    mlp_reg = register(chain, mlp, chain.mlp_verifier)
    tiny_reg = register(chain, tiny, chain.tiny_verifier)
    assert mlp_reg.model_id != tiny_reg.model_id
    tiny_pub = publish(chain, tiny_reg.model_id, proof_of(tiny))
    consumer = vault(chain, mlp_reg.model_id, tmp_path)
    with pytest.raises(OracleRevertError) as info:
        orc.consumer_act(chain.conn, consumer, prediction=tiny_pub.prediction.prediction_id, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "WrongModel"
    with pytest.raises(OracleRevertError) as info:  # and its own model has published nothing yet
        orc.consumer_act(chain.conn, consumer, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "NoPrediction"


def test_deployments_are_recorded_and_reused(chain: World, mlp: Any, tmp_path: Path) -> None:
    first = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    again = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert not first.reused and again.reused and again.address == first.address
    model_id = orc.workspace_model(ws(mlp)).model_id
    deploy = orc.deploy_consumer
    consumer = deploy(chain.conn, first.address, model_id, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert deploy(chain.conn, first.address, model_id, tmp_path, sender=chain.owner, contracts=chain.contracts).reused
    other = deploy(chain.conn, first.address, b"\1" * 32, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert not other.reused and other.address != consumer.address
    store = DeploymentStore.of(tmp_path)
    names = sorted(d.name for d in store.find(chain.conn.chain_id))
    assert names == [CONSUMER_CONTRACT, CONSUMER_CONTRACT, ORACLE_CONTRACT]
    assert store.latest(chain.conn.chain_id, CONSUMER_CONTRACT, model_id="0x" + model_id.hex()) == consumer
    # Another policy for the same pins is another vault, and takes the slot over.
    bolder = ConsumerConfig(neutral_bps=9_000)
    moved = deploy(chain.conn, first.address, model_id, tmp_path, config=bolder, sender=chain.owner, contracts=chain.contracts)
    assert not moved.reused and moved.address != consumer.address
    assert orc.consumer_state(chain.conn, moved.address, contracts=chain.contracts).target_risky_bps == 9_000
    assert store.latest(chain.conn.chain_id, CONSUMER_CONTRACT, model_id="0x" + model_id.hex()) == moved


def test_consumer_state_of_something_else_is_an_error(chain: World) -> None:
    from zkml.errors import ZkmlError

    with pytest.raises(ZkmlError):
        orc.consumer_state(chain.conn, chain.oracle, contracts=chain.contracts)
