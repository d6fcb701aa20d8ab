"""Publishing and reading on a real anvil: every attack on the proof itself refused with the contract's own error.

These run on an unattested registration (the proof, not its input, is under attack);
issue 11's attacks on inputs, verifiers and lifecycle are in tests/oracle/test_attacks.py.
Each attack asserts the contract's error name, so a test cannot pass because the
transaction failed for some other reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import flip_proof_byte
from zkml import oracle as orc
from zkml.errors import OracleRevertError, ReplayError, VerificationFailedError
from zkml.evm.felts import FIELD_MODULUS
from zkml.evm.onchain import read_proof
from zkml.evm.records import DeploymentStore
from zkml.oracle.compile import ORACLE_CONTRACT

from .conftest import World
from .steps import proof_of, publish, register, submit_raw


def test_deploy_oracle_is_recorded_and_reused(chain: World, tmp_path: Path) -> None:
    first = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    again = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert not first.reused and again.reused and again.address == first.address
    assert first.kind == "oracle" and first.compiler == chain.contracts.oracle.compiler.as_dict()
    assert DeploymentStore.of(tmp_path).find(chain.conn.chain_id, ORACLE_CONTRACT) == [first]


def test_forged_proof_rejected(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    forged = tmp_path / "forged.json"
    flip_proof_byte(proof_of(mlp), forged)
    with pytest.raises(VerificationFailedError) as info:
        publish(chain, reg.model_id, forged)
    assert info.value.error == "VerificationFailed"
    # Nothing was stored, so the honest proof still goes through.
    assert publish(chain, reg.model_id, proof_of(mlp)).gas_used


def test_proof_of_another_model_rejected(chain: World, mlp: Any, tiny: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    tiny_proof = proof_of(tiny)
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, tiny_proof)
    assert info.value.error == "WrongInstanceCount" and info.value.values == (9, 6)
    # Padded to the right layout, the other model's proof still fails verification.
    padded = [*read_proof(tiny_proof).instances, 0, 0, 0]
    with pytest.raises(OracleRevertError) as info:
        submit_raw(chain, reg.model_id, tiny_proof, padded)
    assert info.value.error == "VerificationFailed"


def test_altered_instances_rejected(chain: World, mlp: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    proof = proof_of(mlp)
    honest = list(read_proof(proof).instances)
    for index in (0, 8):  # an input, and the output (claiming a different prediction)
        altered = list(honest)
        altered[index] = (altered[index] + 1) % FIELD_MODULUS
        with pytest.raises(OracleRevertError) as info:
            submit_raw(chain, reg.model_id, proof, altered)
        assert info.value.error == "VerificationFailed", index


def test_instance_outside_field_rejected(chain: World, mlp: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    proof = proof_of(mlp)
    aliased = list(read_proof(proof).instances)
    aliased[3] += FIELD_MODULUS  # same element mod p, a different commitment: must not count as a new input
    with pytest.raises(OracleRevertError) as info:
        submit_raw(chain, reg.model_id, proof, aliased)
    assert info.value.error == "InstanceOutOfField" and info.value.values == (3,)


def test_replay_of_same_proof_rejected(chain: World, mlp: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    proof = proof_of(mlp)
    first = publish(chain, reg.model_id, proof)
    with pytest.raises(ReplayError) as info:
        publish(chain, reg.model_id, proof)
    assert info.value.error == "Replay" and info.value.values == (first.prediction.prediction_id,)
    read = publish(chain, reg.model_id, proof, on_replay="read")
    assert read.replayed and read.gas_used is None and read.prediction == first.prediction


def test_replay_with_fresh_proof_of_same_input_rejected(chain: World, mlp: Any, tmp_path: Path) -> None:
    from zkml.prove import prove

    p = mlp.pipeline
    reg = register(chain, mlp, chain.mlp_verifier)
    publish(chain, reg.model_id, proof_of(mlp))
    fresh = tmp_path / "proof.json"
    prove(p.witness(), p.compile(), p.keys(), p.srs(), fresh)
    assert read_proof(fresh).instances == read_proof(proof_of(mlp)).instances
    assert read_proof(fresh).proof != read_proof(proof_of(mlp)).proof, "ezkl proofs are randomised"
    with pytest.raises(ReplayError):
        publish(chain, reg.model_id, fresh)


def test_unregistered_model_rejected(chain: World, mlp: Any) -> None:
    with pytest.raises(OracleRevertError) as info:
        publish(chain, b"\x42" * 32, proof_of(mlp))
    assert info.value.error == "UnknownModel"
    with pytest.raises(OracleRevertError) as info:
        orc.read_prediction(chain.conn, chain.oracle, b"\x42" * 32, contracts=chain.contracts)
    assert info.value.error == "UnknownModel"


def test_reads_of_what_was_published(chain: World, mlp: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    pub = publish(chain, reg.model_id, proof_of(mlp))
    latest, gas = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert latest == pub.prediction and gas > 21_000 and pub.batch == (pub.prediction,) and pub.skipped == ()
    commitment = orc.input_commitment(reg.spec.input_instances(read_proof(proof_of(mlp)).instances))
    by_input, _ = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, commitment=commitment, contracts=chain.contracts)
    assert by_input == pub.prediction
    record = orc.prediction_record(chain.conn, chain.oracle, reg.model_id, pub.prediction.prediction_id, contracts=chain.contracts)
    assert record == pub.prediction and record.as_dict()["floats"] == list(record.floats)
    assert record.expires_at == record.data_timestamp + reg.max_age and record.epoch == 0
    with pytest.raises(OracleRevertError) as info:
        orc.prediction_record(chain.conn, chain.oracle, reg.model_id, b"\x09" * 32, contracts=chain.contracts)
    assert info.value.error == "NoPrediction"
