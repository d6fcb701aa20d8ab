"""A batched proof through the oracle: one verification, one stored prediction per sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.errors import OracleError, OracleRevertError, ReplayError
from zkml.evm.rpc import transact


def _register_batched(chain: Any, batched_tiny: Any, folder: Path) -> tuple[orc.Registration, Any]:
    from zkml.proving.batch import deploy_batch_verifier

    spec = orc.model_spec(batched_tiny.circuit.spec.circuit.settings.path)  # batch.json next to it says B=2
    deployed = deploy_batch_verifier(chain.conn, batched_tiny.circuit.spec, folder, kind="plain")
    reg = orc.register_model(
        chain.conn, chain.oracle, b"\x0b" * 32, deployed.address, spec, max_age=3600, sender=chain.owner, contracts=chain.contracts
    )
    return reg, deployed


def test_batch_publishes_one_prediction_per_sample(chain: Any, batched_tiny: Any, tmp_path: Path) -> None:
    from zkml.evm.onchain import decode_instances, read_proof

    reg, _ = _register_batched(chain, batched_tiny, tmp_path / "evm")
    assert reg.spec.batch_size == 2 and reg.spec.input_count == 8 and reg.spec.output_count == 4
    assert orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)["batch_size"] == 2  # type: ignore[index]

    proof = batched_tiny.proofs[(0, 1)].proof.path
    pub = orc.publish(chain.conn, chain.oracle, reg.model_id, proof, sender=chain.owner, contracts=chain.contracts)
    instances = [int(v) for v in read_proof(proof).instances]
    decoded = decode_instances(read_proof(proof).instances, batched_tiny.circuit.spec.circuit.settings.path)
    outputs = [v for values in decoded.outputs for v in values]
    assert len(pub.batch) == 2 and pub.prediction == pub.batch[-1]
    for k, (prediction, sample_inputs) in enumerate(zip(pub.batch, reg.spec.sample_inputs(instances), strict=True)):
        # Each sample is keyed by its own inputs and holds its own two outputs.
        assert prediction.input_commitment == orc.input_commitment(sample_inputs)
        assert [v / 2**prediction.scale for v in prediction.values] == pytest.approx(outputs[2 * k : 2 * k + 2], abs=2**-prediction.scale)
        read, _ = orc.read_prediction(
            chain.conn, chain.oracle, reg.model_id, commitment=prediction.input_commitment, contracts=chain.contracts
        )
        assert read == prediction
    latest, _ = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert latest == pub.batch[-1]


def test_batch_with_a_published_sample_is_a_replay(chain: Any, batched_tiny: Any, tmp_path: Path) -> None:
    from zkml.evm.onchain import read_proof

    reg, _ = _register_batched(chain, batched_tiny, tmp_path / "evm")
    first = orc.publish(
        chain.conn, chain.oracle, reg.model_id, batched_tiny.proofs[(0, 1)].proof.path, sender=chain.owner, contracts=chain.contracts
    )
    # Samples (1, 2): sample 1 is already published, so the whole (valid) batch is refused.
    with pytest.raises(ReplayError) as caught:
        orc.publish(
            chain.conn, chain.oracle, reg.model_id, batched_tiny.proofs[(1, 2)].proof.path, sender=chain.owner, contracts=chain.contracts
        )
    assert bytes(caught.value.values[0]) == first.batch[1].prediction_id
    # Nothing of the refused batch was stored: sample 2 stays unpublished.
    instances = [int(v) for v in read_proof(batched_tiny.proofs[(1, 2)].proof.path).instances]
    sample2 = orc.input_commitment(reg.spec.sample_inputs(instances)[1])
    with pytest.raises(OracleRevertError, match="NoPrediction"):
        orc.read_prediction(chain.conn, chain.oracle, reg.model_id, commitment=sample2, contracts=chain.contracts)


def test_batch_repeating_a_sample_is_a_replay(chain: Any, batched_tiny: Any, tmp_path: Path) -> None:
    reg, _ = _register_batched(chain, batched_tiny, tmp_path / "evm")
    # A valid proof whose two samples are the same input: the second would overwrite the first.
    with pytest.raises(ReplayError):
        orc.publish(
            chain.conn, chain.oracle, reg.model_id, batched_tiny.proofs[(0, 0)].proof.path, sender=chain.owner, contracts=chain.contracts
        )


def test_batched_layout_the_oracle_cannot_split_is_refused(chain: Any, batched_tiny: Any, tmp_path: Path) -> None:
    settings = batched_tiny.circuit.spec.circuit.settings.path
    with pytest.raises(OracleError, match="batch of 3"):
        orc.model_spec(settings, batch_size=3)
    # The contract enforces the same rules for anyone registering by hand.
    contract = chain.conn.w3.eth.contract(address=chain.oracle, abi=chain.contracts.oracle.abi)
    spec = orc.model_spec(settings)
    cases = {
        "batchSize is zero": orc.ModelSpec("public", 12, 0, 8, 8, 4, 13, 0),
        "do not split": orc.ModelSpec("public", 12, 0, 8, 8, 4, 13, 3),
        "hashed binding cannot be batched": orc.ModelSpec("hashed", 5, 0, 1, 1, 4, 13, 2),
    }
    for reason, bad in cases.items():
        data = contract.encode_abi("registerModel", args=[b"\x0c" * 32, bad.config_tuple(chain.mlp_verifier, b"\0" * 32, 60)])
        with pytest.raises(OracleRevertError, match=reason):
            transact(chain.conn, chain.owner, data, "registering", to=chain.oracle, errors=chain.contracts.errors)
    assert spec.batch_size == 2
