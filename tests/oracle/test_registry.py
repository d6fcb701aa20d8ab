"""The model registry on anvil: registration is owner-only, idempotent, immutable; retiring stops readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import flip_proof_byte
from zkml import oracle as orc
from zkml.errors import OracleError, OracleRevertError, ReplayError, VerificationFailedError
from zkml.evm.felts import felt_to_int
from zkml.evm.onchain import decode_instances, read_proof
from zkml.workspace import Layout

from .conftest import World
from .steps import proof_of, publish, register, send, vault, ws


def test_retired_model(chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    pub = publish(chain, reg.model_id, proof_of(mlp))
    consumer = vault(chain, reg.model_id, tmp_path)
    orc.set_model_active(chain.conn, chain.oracle, reg.model_id, False, sender=chain.owner, contracts=chain.contracts)
    with pytest.raises(OracleRevertError) as info:
        orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert info.value.error == "ModelInactive"
    with pytest.raises(OracleRevertError) as info:
        orc.consumer_act(chain.conn, consumer, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "ModelInactive"
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, proof_of(mlp))
    assert info.value.error == "ModelInactive"
    # History stays readable for audits.
    assert orc.prediction_record(chain.conn, chain.oracle, pub.prediction.prediction_id, contracts=chain.contracts) == pub.prediction
    assert orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)["active"] is False  # type: ignore[index]


def test_non_owner_cannot_register_or_retire(chain: World, mlp: Any) -> None:
    with pytest.raises(OracleRevertError) as info:
        orc.register_workspace(
            chain.conn, chain.oracle, ws(mlp), verifier=chain.mlp_verifier, sender=chain.stranger, contracts=chain.contracts
        )
    assert info.value.error == "NotOwner" and info.value.values[0].lower() == chain.stranger.address.lower()
    reg = register(chain, mlp, chain.mlp_verifier)
    with pytest.raises(OracleRevertError) as info:
        orc.set_model_active(chain.conn, chain.oracle, reg.model_id, False, sender=chain.stranger, contracts=chain.contracts)
    assert info.value.error == "NotOwner"


def test_model_binding_is_immutable(chain: World, mlp: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    assert register(chain, mlp, chain.mlp_verifier).reused
    with pytest.raises(OracleError, match="already registered"):
        register(chain, mlp, chain.tiny_verifier)
    # The contract refuses it too, whatever a client checks.
    contract = chain.conn.w3.eth.contract(address=chain.oracle, abi=chain.contracts.oracle.abi_list)
    data = contract.encode_abi("registerModel", args=[reg.model_id, reg.spec.config_tuple(chain.tiny_verifier, b"\0" * 32, 60)])
    with pytest.raises(OracleRevertError) as info:
        send(chain, data, "registering")
    assert info.value.error == "ModelAlreadyRegistered"


def test_registration_reads_back(chain: World, mlp: Any) -> None:
    assert orc.read_model(chain.conn, chain.oracle, b"\x33" * 32, contracts=chain.contracts) is None
    reg = register(chain, mlp, chain.mlp_verifier, max_age=600)
    assert not reg.reused and reg.gas_used > 0 and reg.as_dict()["inputs"] == [0, 8]
    model = orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert model is not None and model["verifier"].lower() == chain.mlp_verifier.lower() and model["max_age"] == 600
    assert (model["instance_count"], model["batch_size"], model["scale"]) == (9, 1, reg.spec.scale)


def test_workspace_model_and_verifier(chain: World, mlp: Any, tmp_path: Path) -> None:
    model = orc.workspace_model(mlp.pipeline)
    layout = Layout(ws(mlp))
    assert model == orc.workspace_model(ws(mlp)) and model.proof_path == layout.proof and model.settings_path == layout.settings
    assert model.model_id == orc.default_model_id(model.vk_sha256, model.settings_sha256)
    # The session deployed the mlp verifier from its workspace: registration finds it there.
    assert orc.workspace_verifier(chain.conn, ws(mlp)).lower() == chain.mlp_verifier.lower()
    with pytest.raises(OracleError, match="no plain verifier"):
        orc.workspace_verifier(chain.conn, tmp_path)
    with pytest.raises(OracleError, match="does not exist"):
        orc.workspace_model(tmp_path)


def test_hashed_input_binding(chain: World, hashed: Any, tmp_path: Path) -> None:
    from zkml.evm.deploy import deploy_verifier

    layout = Layout(Path(hashed.ws.root))
    verifier = deploy_verifier(chain.conn, hashed.verifier(), tmp_path, srs_unsafe=True, sender=chain.owner).address
    spec = orc.model_spec(layout.settings)
    assert spec.binding == "hashed" and (spec.input_offset, spec.input_count) == (0, 1)
    reg = orc.register_workspace(chain.conn, chain.oracle, layout.root, verifier=verifier, sender=chain.owner, contracts=chain.contracts)
    pub = publish(chain, reg.model_id, layout.proof)
    instances = read_proof(layout.proof).instances
    # The bound instance is ezkl's Poseidon hash of the (private) input, as the witness records it.
    witness = json.loads(layout.witness.read_text())
    poseidon = int.from_bytes(bytes.fromhex(witness["processed_inputs"]["poseidon_hash"][0]), "little")
    assert instances[0] == poseidon
    assert pub.prediction.input_commitment == orc.input_commitment([poseidon])
    outputs = [v / 2.0**spec.scale for v in map(felt_to_int, instances[1:])]
    assert list(pub.prediction.floats) == outputs
    consumer = vault(chain, reg.model_id, tmp_path)
    with pytest.raises(OracleRevertError) as info:
        orc.consumer_act(chain.conn, consumer, input_instances=[poseidon ^ 1], sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "NoPrediction"
    state, _ = orc.consumer_act(chain.conn, consumer, input_instances=[poseidon], sender=chain.owner, contracts=chain.contracts)
    assert state.last_prediction_id == pub.prediction.prediction_id
    with pytest.raises(ReplayError):
        publish(chain, reg.model_id, layout.proof)


def test_reusable_verifier_model(chain: World, mlp: Any, tmp_path: Path) -> None:
    from zkml.evm.deploy import deploy_verifier, register_vka

    p = mlp.pipeline
    artifact = p.verifier(reusable=True)
    vka = p.vka()
    reusable = deploy_verifier(chain.conn, artifact, tmp_path, srs_unsafe=True, sender=chain.owner)
    register_vka(chain.conn, reusable, artifact, vka, tmp_path, srs_unsafe=True, sender=chain.owner)
    settings = Layout(ws(mlp)).settings
    spec = orc.model_spec(settings)
    model_id = b"\x11" * 32
    digest = bytes.fromhex(vka.digest.removeprefix("0x"))
    orc.register_model(
        chain.conn, chain.oracle, model_id, reusable.address, spec, vka_digest=digest, sender=chain.owner, contracts=chain.contracts
    )
    proof = proof_of(mlp)
    with pytest.raises(OracleRevertError) as info:
        publish(chain, model_id, proof)
    assert info.value.error == "VkaRequired"
    with pytest.raises(OracleRevertError) as info:
        publish(chain, model_id, proof, vka_words=[*vka.words[:-1], b"\0" * 32])
    assert info.value.error == "VkaMismatch"
    forged = tmp_path / "forged.json"
    flip_proof_byte(proof, forged)
    with pytest.raises(VerificationFailedError):
        publish(chain, model_id, forged, vka_words=list(vka.words))
    pub = publish(chain, model_id, proof, vka_words=list(vka.words))
    assert list(pub.prediction.floats) == list(decode_instances(read_proof(proof).instances, settings).outputs[0])
