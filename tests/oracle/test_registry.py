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
from zkml.evm.rpc import code_at
from zkml.oracle.binding import codehash_of, workspace_bounds
from zkml.workspace import Layout

from .conftest import Market, World
from .steps import contract, proof_of, publish, register, register_attested, send, vault, ws


def test_retired_model(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register_attested(chain, mlp, market)
    pub = publish(chain, reg.model_id, market.proof, epochs=[market.latest])
    consumer = vault(chain, reg.model_id, tmp_path)
    orc.set_model_active(chain.conn, chain.oracle, reg.model_id, False, sender=chain.owner, contracts=chain.contracts)
    for where in ({}, {"epoch": market.latest}):
        with pytest.raises(OracleRevertError) as info:
            orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts, **where)
        assert info.value.error == "ModelInactive"
    with pytest.raises(OracleRevertError) as info:
        orc.consumer_act(chain.conn, consumer, sender=chain.owner, contracts=chain.contracts)
    assert info.value.error == "ModelInactive"
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, market.flat_proof, epochs=[market.latest - 1])
    assert info.value.error == "ModelInactive"
    # History stays readable for audits.
    record = orc.prediction_record(
        chain.conn, chain.oracle, reg.model_id, pub.prediction.prediction_id, epoch=market.latest, contracts=chain.contracts
    )
    assert record == pub.prediction
    assert orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)["active"] is False  # type: ignore[index]
    # Reactivated, it serves again.
    orc.set_model_active(chain.conn, chain.oracle, reg.model_id, True, sender=chain.owner, contracts=chain.contracts)
    assert orc.read_prediction(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)[0] == pub.prediction


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


def test_model_binding_is_immutable(market: Market, chain: World, mlp: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    assert register(chain, mlp, chain.mlp_verifier).reused
    assert register(chain, mlp, chain.mlp_verifier, max_age=60).max_age == reg.max_age  # maxAge moves only by setMaxAge
    # Another verifier, source, lag or bounds under the same id is refused before anything is sent.
    spec = reg.spec
    changes = {
        "verifier": {"verifier": chain.tiny_verifier},
        "source": {"source": market.source},
        "max_epoch_lag": {"max_epoch_lag": 3},
        "bounds": {"bounds": [(low - 1, high) for low, high in reg.bounds]},
        "vka_digest": {"vka_digest": b"\x01" * 32},
    }
    for field, change in changes.items():
        args: dict[str, Any] = {"verifier": chain.mlp_verifier, "bounds": reg.bounds, **change}
        verifier = args.pop("verifier")
        with pytest.raises(OracleError, match=f"already registered .* with another {field}"):
            orc.register_model(
                chain.conn, chain.oracle, reg.model_id, verifier, spec, sender=chain.owner, contracts=chain.contracts, **args
            )
    # The contract refuses it too, whatever a client checks.
    config = spec.config_tuple(chain.tiny_verifier, reg.codehash, b"\0" * 32, 60)
    data = contract(chain).encode_abi("registerModel", args=[reg.model_id, config, [list(b) for b in reg.bounds]])
    with pytest.raises(OracleRevertError) as info:
        send(chain, data, "registering")
    assert info.value.error == "ModelAlreadyRegistered"


def test_the_contract_pins_the_verifier_code_it_is_given(chain: World, mlp: Any) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    # A hand-made registration whose pinned code hash is not the verifier's is refused on chain.
    config = reg.spec.config_tuple(chain.mlp_verifier, b"\x07" * 32, b"\0" * 32, 60)
    data = contract(chain).encode_abi("registerModel", args=[b"\x31" * 32, config, [list(b) for b in reg.bounds]])
    with pytest.raises(OracleRevertError) as info:
        send(chain, data, "registering")
    assert info.value.error == "VerifierCodeMismatch" and info.value.values == (b"\x31" * 32, b"\x07" * 32, reg.codehash)
    with pytest.raises(OracleRevertError, match="VerifierCodeMismatch"):
        orc.register_model(
            chain.conn, chain.oracle, b"\x31" * 32, chain.mlp_verifier, reg.spec, bounds=reg.bounds, codehash=b"\x07" * 32,
            sender=chain.owner, contracts=chain.contracts,
        )  # fmt: skip


def test_registration_reads_back(market: Market, chain: World, mlp: Any) -> None:
    assert orc.read_model(chain.conn, chain.oracle, b"\x33" * 32, contracts=chain.contracts) is None
    reg = register(chain, mlp, chain.mlp_verifier, max_age=600)
    assert not reg.reused and reg.gas_used > 0 and reg.as_dict()["inputs"] == [0, 8] and not reg.attested
    model = orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert model is not None and model["verifier"].lower() == chain.mlp_verifier.lower() and model["max_age"] == 600
    assert (model["instance_count"], model["batch_size"], model["scale"]) == (9, 1, reg.spec.scale)
    assert model["verifier_codehash"] == reg.codehash and model["bounds"] == reg.bounds == market.bounds
    assert model["attested"] is False and model["latest_epoch"] == 0
    attested = register_attested(chain, mlp, market)
    assert attested.model_id == orc.workspace_model(ws(mlp)).model_id_for(market.source) != reg.model_id
    model = orc.read_model(chain.conn, chain.oracle, attested.model_id, contracts=chain.contracts)
    assert model is not None and model["attested"] is True and model["source"].lower() == market.source.lower()
    assert model["max_epoch_lag"] == attested.max_epoch_lag and attested.as_dict()["source"] == attested.source
    publish(chain, attested.model_id, market.proof, epochs=[market.latest])
    model = orc.read_model(chain.conn, chain.oracle, attested.model_id, contracts=chain.contracts)
    assert model is not None and model["latest_epoch"] == market.latest
    assert model["latest"] == orc.prediction_id(attested.model_id, market.latest)


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
    assert reg.bounds == () and not reg.attested  # a hash can be neither range-checked nor attested
    pub = publish(chain, reg.model_id, layout.proof)
    instances = read_proof(layout.proof).instances
    # The bound instance is ezkl's Poseidon hash of the (private) input, as the witness records it.
    witness = json.loads(layout.witness.read_text())
    poseidon = int.from_bytes(bytes.fromhex(witness["processed_inputs"]["poseidon_hash"][0]), "little")
    assert instances[0] == poseidon
    assert pub.prediction.prediction_id == orc.prediction_id(reg.model_id, orc.input_commitment([poseidon]))
    outputs = [v / 2.0**spec.scale for v in map(felt_to_int, instances[1:])]
    assert list(pub.prediction.floats) == outputs
    # An app holding the input recomputes the hash and reads the prediction for it.
    read, _ = orc.read_prediction(
        chain.conn, chain.oracle, reg.model_id, commitment=orc.input_commitment([poseidon]), contracts=chain.contracts
    )
    assert read == pub.prediction
    with pytest.raises(OracleRevertError) as info:
        orc.read_prediction(
            chain.conn, chain.oracle, reg.model_id, commitment=orc.input_commitment([poseidon ^ 1]), contracts=chain.contracts
        )
    assert info.value.error == "NoPrediction"
    with pytest.raises(OracleRevertError) as info:  # the vault acts only on attested models
        vault(chain, reg.model_id, tmp_path)
    assert info.value.error == "InvalidParameter"
    with pytest.raises(ReplayError):
        publish(chain, reg.model_id, layout.proof)


def test_reusable_verifier_model(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
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
    bounds = workspace_bounds(ws(mlp), spec.input_scale, spec.sample_width)
    reg = orc.register_model(
        chain.conn, chain.oracle, model_id, reusable.address, spec, bounds=bounds, vka_digest=digest, sender=chain.owner,
        contracts=chain.contracts,
    )  # fmt: skip
    assert reg.vka_digest == digest and reg.codehash == codehash_of(code_at(chain.conn, reusable.address))
    assert orc.register_model(
        chain.conn, chain.oracle, model_id, reusable.address, spec, bounds=bounds, vka_digest=digest, sender=chain.owner,
        contracts=chain.contracts,
    ).reused  # fmt: skip
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
    # Attested through the reusable verifier (submitAttestedWithVka): the feed's window, the pinned VKA.
    attested_id = b"\x12" * 32
    orc.register_model(
        chain.conn, chain.oracle, attested_id, reusable.address, spec, bounds=bounds, vka_digest=digest, source=market.source,
        max_epoch_lag=4, sender=chain.owner, contracts=chain.contracts,
    )  # fmt: skip
    with pytest.raises(OracleRevertError) as info:
        publish(chain, attested_id, proof, epochs=[market.latest], vka_words=list(vka.words))
    assert info.value.error == "InputNotAttested"
    pub = publish(chain, attested_id, market.proof, epochs=[market.latest], vka_words=list(vka.words))
    assert pub.prediction.prediction_id == orc.prediction_id(attested_id, market.latest)
