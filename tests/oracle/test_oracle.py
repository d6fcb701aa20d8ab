"""The oracle on a real anvil: the happy path to the consumer acting, and every attack refused.

Each attack asserts the contract's own error name, so a test cannot pass because
the transaction failed for some other reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.evm.onchain import FIELD_MODULUS, decode_instances, read_proof
from tests.helpers import flip_proof_byte

from .conftest import World


def _ws(circuit: Any) -> Path:
    return Path(circuit.pipeline.ws.root)


def _register(w: World, circuit: Any, verifier: str, **kwargs: Any) -> orc.Registration:
    return orc.register_workspace(w.conn, w.oracle, _ws(circuit), verifier=verifier, sender=w.owner, contracts=w.contracts, **kwargs)


def _publish(w: World, model_id: bytes, proof: Path, **kwargs: Any) -> orc.Publication:
    return orc.publish(w.conn, w.oracle, model_id, proof, sender=w.owner, contracts=w.contracts, **kwargs)


def _submit_raw(w: World, model_id: bytes, proof: Path, instances: list[int]) -> None:
    """Submit with substituted instances (what an attacker controls)."""
    contract = w.conn.w3.eth.contract(address=w.oracle, abi=w.contracts.oracle.abi_list)
    data = orc.submit_calldata(contract, model_id, read_proof(proof), instances=instances)
    orc._transact(w.conn, w.owner, w.oracle, data, w.contracts, "submitting the proof")


def _vault(w: World, model_id: bytes, tmp_path: Path) -> str:
    return orc.deploy_consumer(w.conn, w.oracle, model_id, tmp_path, sender=w.owner, contracts=w.contracts).address


def _increase_time(w: World, seconds: int) -> None:
    w.conn.w3.provider.make_request("evm_increaseTime", [seconds])
    w.conn.w3.provider.make_request("evm_mine", [])


# --------------------------------------------------------------------------- happy path


def test_demo_flow_from_example_to_consumer(chain: World, mlp: Any) -> None:
    result = orc.demo_flow(mlp.pipeline, chain.conn, sender=chain.owner, verifier=chain.mlp_verifier)
    settings = _ws(mlp) / "settings.json"
    instances = read_proof(_ws(mlp) / "proof.json").instances
    expected = decode_instances(instances, settings).outputs[0]
    spec = orc.model_spec(settings)
    assert spec.binding == "public" and spec.instance_count == 9 and spec.output_offset == 8
    prediction = result["prediction"]
    assert prediction["floats"] == list(expected)
    assert prediction["scale"] == spec.scale
    assert prediction["input_commitment"] == "0x" + orc.input_commitment(instances[:8]).hex()
    assert result["replayed"] is False
    assert all(isinstance(result["gas"][k], int) and result["gas"][k] > 0 for k in ("register", "submit", "read", "act"))
    # The vault applied its policy to exactly the verified forecast.
    wad = orc.to_wad(prediction["values"][0], prediction["scale"])
    shift = abs(wad) * orc.DEFAULT_BPS_PER_UNIT_RETURN // 10**18 * (1 if wad >= 0 else -1)  # Solidity truncates toward zero
    expected_bps = min(10_000, max(0, orc.DEFAULT_NEUTRAL_BPS + shift))
    assert result["consumer"]["target_risky_bps"] == expected_bps
    assert result["consumer"]["last_forecast_wad"] == wad
    assert result["consumer"]["last_prediction_id"] == prediction["prediction_id"]

    # A re-run reuses everything and says the input was already published instead of failing.
    again = orc.demo_flow(mlp.pipeline, chain.conn, sender=chain.owner, verifier=chain.mlp_verifier)
    assert again["replayed"] is True and again["oracle_address"] == result["oracle_address"]
    assert again["consumer_address"] == result["consumer_address"]
    assert again["gas"]["submit"] is None and again["gas"]["register"] is None
    assert again["prediction"] == prediction
    assert "AlreadyApplied" in again["consumer_note"]


def test_consumer_acts_only_on_vouched_inputs(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    _publish(chain, reg.model_id, _ws(mlp) / "proof.json")
    vault = _vault(chain, reg.model_id, tmp_path)
    inputs = list(read_proof(_ws(mlp) / "proof.json").instances[:8])
    wrong = [*inputs[:-1], (inputs[-1] + 1) % FIELD_MODULUS]
    with pytest.raises(orc.OracleRevertError) as info:
        orc.consumer_act(chain.conn, vault, input_instances=wrong, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "NoPrediction"
    state, gas = orc.consumer_act(chain.conn, vault, input_instances=inputs, sender=chain.owner, contracts=chain.contracts)
    assert gas > 0 and state.last_prediction_id == orc.prediction_id(reg.model_id, orc.input_commitment(inputs))


def test_hashed_input_binding(chain: World, hashed: Any, tmp_path: Path) -> None:
    from zkml.evm.deploy import deploy_verifier

    ws = Path(hashed.ws.root)
    verifier = deploy_verifier(chain.conn, hashed.verifier(), tmp_path, srs_unsafe=True, sender=chain.owner).address
    spec = orc.model_spec(ws / "settings.json")
    assert spec.binding == "hashed" and (spec.input_offset, spec.input_count) == (0, 1)
    reg = orc.register_workspace(chain.conn, chain.oracle, ws, verifier=verifier, sender=chain.owner, contracts=chain.contracts)
    pub = _publish(chain, reg.model_id, ws / "proof.json")
    instances = read_proof(ws / "proof.json").instances
    # The bound instance is ezkl's Poseidon hash of the (private) input, as the witness records it.
    witness = json.loads((ws / "witness.json").read_text())
    poseidon = int.from_bytes(bytes.fromhex(witness["processed_inputs"]["poseidon_hash"][0]), "little")
    assert instances[0] == poseidon
    assert pub.prediction.input_commitment == orc.input_commitment([poseidon])
    outputs = [v / 2.0**spec.scale for v in map(orc.felt_to_int, instances[1:])]
    assert list(pub.prediction.floats) == outputs
    vault = _vault(chain, reg.model_id, tmp_path)
    with pytest.raises(orc.OracleRevertError) as info:
        orc.consumer_act(chain.conn, vault, input_instances=[poseidon ^ 1], sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "NoPrediction"
    state, _ = orc.consumer_act(chain.conn, vault, input_instances=[poseidon], sender=chain.owner, contracts=chain.contracts)
    assert state.last_prediction_id == pub.prediction.prediction_id
    with pytest.raises(orc.ReplayError):
        _publish(chain, reg.model_id, ws / "proof.json")


# --------------------------------------------------------------------------- attacks on submit


def test_forged_proof_rejected(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    forged = tmp_path / "forged.json"
    flip_proof_byte(_ws(mlp) / "proof.json", forged)
    with pytest.raises(orc.VerificationFailedError) as info:
        _publish(chain, reg.model_id, forged)
    assert info.value.error == "VerificationFailed"
    # Nothing was stored, so the honest proof still goes through.
    assert _publish(chain, reg.model_id, _ws(mlp) / "proof.json").gas_used


def test_proof_of_another_model_rejected(chain: World, mlp: Any, tiny: Any) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    tiny_proof = _ws(tiny) / "proof.json"
    with pytest.raises(orc.OracleRevertError) as info:
        _publish(chain, reg.model_id, tiny_proof)
    assert info.value.error == "WrongInstanceCount" and info.value.values == (9, 6)
    # Padded to the right layout, the other model's proof still fails verification.
    padded = [*read_proof(tiny_proof).instances, 0, 0, 0]
    with pytest.raises(orc.OracleRevertError) as info:
        _submit_raw(chain, reg.model_id, tiny_proof, padded)
    assert info.value.error == "VerificationFailed"


def test_altered_instances_rejected(chain: World, mlp: Any) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    proof = _ws(mlp) / "proof.json"
    honest = list(read_proof(proof).instances)
    for index in (0, 8):  # an input, and the output (claiming a different prediction)
        altered = list(honest)
        altered[index] = (altered[index] + 1) % FIELD_MODULUS
        with pytest.raises(orc.OracleRevertError) as info:
            _submit_raw(chain, reg.model_id, proof, altered)
        assert info.value.error == "VerificationFailed", index


def test_instance_outside_field_rejected(chain: World, mlp: Any) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    proof = _ws(mlp) / "proof.json"
    aliased = list(read_proof(proof).instances)
    aliased[3] += FIELD_MODULUS  # same element mod p, a different commitment: must not count as a new input
    with pytest.raises(orc.OracleRevertError) as info:
        _submit_raw(chain, reg.model_id, proof, aliased)
    assert info.value.error == "InstanceOutOfField" and info.value.values == (3,)


def test_replay_of_same_proof_rejected(chain: World, mlp: Any) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    proof = _ws(mlp) / "proof.json"
    first = _publish(chain, reg.model_id, proof)
    with pytest.raises(orc.ReplayError) as info:
        _publish(chain, reg.model_id, proof)
    assert info.value.error == "Replay" and info.value.values == (first.prediction.prediction_id,)
    read = _publish(chain, reg.model_id, proof, on_replay="read")
    assert read.replayed and read.gas_used is None and read.prediction == first.prediction


def test_replay_with_fresh_proof_of_same_input_rejected(chain: World, mlp: Any, tmp_path: Path) -> None:
    from zkml.prove import prove

    p = mlp.pipeline
    reg = _register(chain, mlp, chain.mlp_verifier)
    _publish(chain, reg.model_id, _ws(mlp) / "proof.json")
    fresh = tmp_path / "proof.json"
    prove(p.witness(), p.compile(), p.keys(), p.srs(), fresh)
    assert read_proof(fresh).instances == read_proof(_ws(mlp) / "proof.json").instances
    assert read_proof(fresh).proof != read_proof(_ws(mlp) / "proof.json").proof, "ezkl proofs are randomised"
    with pytest.raises(orc.ReplayError):
        _publish(chain, reg.model_id, fresh)


def test_unregistered_model_rejected(chain: World, mlp: Any) -> None:
    with pytest.raises(orc.OracleRevertError) as info:
        _publish(chain, b"\x42" * 32, _ws(mlp) / "proof.json")
    assert info.value.error == "UnknownModel"
    with pytest.raises(orc.OracleRevertError) as info:
        orc.read_prediction(chain.conn, chain.oracle, b"\x42" * 32, contracts=chain.contracts)
    assert info.value.error == "UnknownModel"


def test_retired_model(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    pub = _publish(chain, reg.model_id, _ws(mlp) / "proof.json")
    vault = _vault(chain, reg.model_id, tmp_path)
    orc.set_model_active(chain.conn, chain.oracle, reg.model_id, False, sender=chain.owner, contracts=chain.contracts)
    with pytest.raises(orc.OracleRevertError) as info:
        orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert info.value.error == "ModelInactive"
    with pytest.raises(orc.OracleRevertError) as info:
        orc.consumer_act(chain.conn, vault, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "ModelInactive"
    with pytest.raises(orc.OracleRevertError) as info:
        _publish(chain, reg.model_id, _ws(mlp) / "proof.json")
    assert info.value.error == "ModelInactive"
    # History stays readable for audits.
    assert orc.prediction_record(chain.conn, chain.oracle, pub.prediction.prediction_id, contracts=chain.contracts) == pub.prediction
    assert orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)["active"] is False


def test_non_owner_cannot_register_or_retire(chain: World, mlp: Any) -> None:
    with pytest.raises(orc.OracleRevertError) as info:
        orc.register_workspace(
            chain.conn, chain.oracle, _ws(mlp), verifier=chain.mlp_verifier, sender=chain.stranger, contracts=chain.contracts
        )
    assert info.value.error == "NotOwner" and info.value.values[0].lower() == chain.stranger.address.lower()
    reg = _register(chain, mlp, chain.mlp_verifier)
    with pytest.raises(orc.OracleRevertError) as info:
        orc.set_model_active(chain.conn, chain.oracle, reg.model_id, False, sender=chain.stranger, contracts=chain.contracts)
    assert info.value.error == "NotOwner"


def test_model_binding_is_immutable(chain: World, mlp: Any) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier)
    assert _register(chain, mlp, chain.mlp_verifier).reused
    with pytest.raises(orc.OracleError, match="already registered"):
        _register(chain, mlp, chain.tiny_verifier)
    # The contract refuses it too, whatever a client checks.
    contract = chain.conn.w3.eth.contract(address=chain.oracle, abi=chain.contracts.oracle.abi_list)
    data = contract.encode_abi("registerModel", args=[reg.model_id, reg.spec.config_tuple(chain.tiny_verifier, b"\0" * 32, 60)])
    with pytest.raises(orc.OracleRevertError) as info:
        orc._transact(chain.conn, chain.owner, chain.oracle, data, chain.contracts, "registering")
    assert info.value.error == "ModelAlreadyRegistered"


# --------------------------------------------------------------------------- attacks on reads and consumers


def test_stale_prediction_refused(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = _register(chain, mlp, chain.mlp_verifier, max_age=600)
    _publish(chain, reg.model_id, _ws(mlp) / "proof.json")
    vault = _vault(chain, reg.model_id, tmp_path)
    prediction, gas = orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert gas > 0 and prediction.values
    _increase_time(chain, 601)
    with pytest.raises(orc.StalePredictionError) as info:
        orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert info.value.error == "Stale" and info.value.values[2] == 600
    with pytest.raises(orc.StalePredictionError):
        orc.consumer_act(chain.conn, vault, sender=chain.owner, contracts=chain.contracts)


def test_consumer_refuses_another_models_prediction(chain: World, mlp: Any, tiny: Any, tmp_path: Path) -> None:
    mlp_reg = _register(chain, mlp, chain.mlp_verifier)
    tiny_reg = _register(chain, tiny, chain.tiny_verifier)
    assert mlp_reg.model_id != tiny_reg.model_id
    tiny_pub = _publish(chain, tiny_reg.model_id, _ws(tiny) / "proof.json")
    vault = _vault(chain, mlp_reg.model_id, tmp_path)
    with pytest.raises(orc.OracleRevertError) as info:
        orc.consumer_act(chain.conn, vault, prediction=tiny_pub.prediction.prediction_id, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "WrongModel"
    with pytest.raises(orc.OracleRevertError) as info:  # and its own model has published nothing yet
        orc.consumer_act(chain.conn, vault, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "NoPrediction"


def test_deployments_are_recorded_and_reused(chain: World, mlp: Any, tmp_path: Path) -> None:
    first = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    again = orc.deploy_oracle(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert not first.reused and again.reused and again.address == first.address
    model_id = orc.workspace_model(_ws(mlp)).model_id
    vault = orc.deploy_consumer(chain.conn, first.address, model_id, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert orc.deploy_consumer(chain.conn, first.address, model_id, tmp_path, sender=chain.owner, contracts=chain.contracts).reused
    other = orc.deploy_consumer(chain.conn, first.address, b"\1" * 32, tmp_path, sender=chain.owner, contracts=chain.contracts)
    assert not other.reused and other.address != vault.address
    names = [e["name"] for e in json.loads((tmp_path / orc.RECORD_NAME).read_text())["contracts"]]
    assert sorted(names) == ["ForecastVault", "ForecastVault", "VerifiedPredictionOracle"]


def test_reusable_verifier_model(chain: World, mlp: Any, tmp_path: Path) -> None:
    from zkml.evm.deploy import deploy_verifier, register_vka

    p = mlp.pipeline
    artifact = p.verifier(reusable=True)
    vka = p.vka()
    reusable = deploy_verifier(chain.conn, artifact, tmp_path, srs_unsafe=True, sender=chain.owner)
    register_vka(chain.conn, reusable, artifact, vka, tmp_path, srs_unsafe=True, sender=chain.owner)
    spec = orc.model_spec(_ws(mlp) / "settings.json")
    model_id = b"\x11" * 32
    digest = bytes.fromhex(vka.digest.removeprefix("0x"))
    orc.register_model(
        chain.conn, chain.oracle, model_id, reusable.address, spec, vka_digest=digest, sender=chain.owner, contracts=chain.contracts
    )
    proof = _ws(mlp) / "proof.json"
    with pytest.raises(orc.OracleRevertError) as info:
        _publish(chain, model_id, proof)
    assert info.value.error == "VkaRequired"
    with pytest.raises(orc.OracleRevertError) as info:
        _publish(chain, model_id, proof, vka_words=[*vka.words[:-1], b"\0" * 32])
    assert info.value.error == "VkaMismatch"
    forged = tmp_path / "forged.json"
    flip_proof_byte(proof, forged)
    with pytest.raises(orc.VerificationFailedError):
        _publish(chain, model_id, forged, vka_words=list(vka.words))
    pub = _publish(chain, model_id, proof, vka_words=list(vka.words))
    assert list(pub.prediction.floats) == list(decode_instances(read_proof(proof).instances, _ws(mlp) / "settings.json").outputs[0])
