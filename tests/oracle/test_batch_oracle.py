"""A batched proof through the oracle: one verification, one stored prediction per sample.

Batches with samples already published (skipped, the rest stored) are issue 11's attack 8:
tests/oracle/test_attacks.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.errors import OracleError, OracleRevertError
from zkml.evm.rpc import transact

from .steps import register_batched


def test_batch_publishes_one_prediction_per_sample(chain: Any, batched_tiny: Any, tiny: Any, tmp_path: Path) -> None:
    from zkml.evm.onchain import decode_instances, read_proof

    reg = register_batched(chain, batched_tiny, tiny, tmp_path / "evm")
    assert reg.spec.batch_size == 2 and reg.spec.input_count == 8 and reg.spec.output_count == 4 and len(reg.bounds) == 4
    model = orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert model is not None and model["batch_size"] == 2 and model["bounds"] == reg.bounds

    proof = batched_tiny.proofs[(0, 1)].proof.path
    pub = orc.publish(chain.conn, chain.oracle, reg.model_id, proof, sender=chain.owner, contracts=chain.contracts)
    instances = [int(v) for v in read_proof(proof).instances]
    decoded = decode_instances(read_proof(proof).instances, batched_tiny.circuit.spec.circuit.settings.path)
    outputs = [v for values in decoded.outputs for v in values]
    assert len(pub.batch) == 2 and pub.prediction == pub.batch[-1] and pub.skipped == ()
    for k, (prediction, sample_inputs) in enumerate(zip(pub.batch, reg.spec.sample_inputs(instances), strict=True)):
        # Each sample is keyed by its own inputs and holds its own two outputs.
        commitment = orc.input_commitment(sample_inputs)
        assert prediction.prediction_id == orc.prediction_id(reg.model_id, commitment) and prediction.epoch == 0
        assert [v / 2**prediction.scale for v in prediction.values] == pytest.approx(outputs[2 * k : 2 * k + 2], abs=2**-prediction.scale)
        read, _ = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, commitment=commitment, contracts=chain.contracts)
        assert read == prediction
    latest, _ = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert latest == pub.batch[-1]


def test_batched_layout_the_oracle_cannot_split_is_refused(chain: Any, batched_tiny: Any) -> None:
    settings = batched_tiny.circuit.spec.circuit.settings.path
    with pytest.raises(OracleError, match="batch of 3"):
        orc.model_spec(settings, batch_size=3)
    # The contract enforces the same rules for anyone registering by hand.
    contract = chain.conn.w3.eth.contract(address=chain.oracle, abi=chain.contracts.oracle.abi_list)
    spec = orc.model_spec(settings)
    four = [(-1000, 1000)] * 4
    cases = {
        "batchSize is zero": (orc.ModelSpec("public", 12, 0, 8, 8, 4, 13, 0), four),
        "do not split": (orc.ModelSpec("public", 12, 0, 8, 8, 4, 13, 3), four),
        "hashed: one hash instance": (orc.ModelSpec("hashed", 6, 0, 2, 2, 4, 13, 2), []),
        "hashed inputs take no bounds": (orc.ModelSpec("hashed", 5, 0, 1, 1, 4, 13, 1), [(0, 1)]),
        "one bound per input feature": (spec, [(-1000, 1000)] * 8),
        "low is above its high": (spec, [(1, 0)] * 4),
        "beyond int64": (spec, [(-(2**63) - 1, 0)] * 4),
    }
    for reason, (bad, bounds) in cases.items():
        config = bad.config_tuple(chain.tiny_verifier, b"\0" * 32, b"\0" * 32, 60)
        data = contract.encode_abi("registerModel", args=[b"\x0c" * 32, config, bounds])
        with pytest.raises(OracleRevertError, match=reason) as info:
            transact(chain.conn, chain.owner, data, "registering", to=chain.oracle, errors=chain.contracts.errors)
        assert info.value.error == "InvalidModelConfig", reason
    assert spec.batch_size == 2
