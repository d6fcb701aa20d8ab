"""Calldata, decoding, and real proofs against real verifiers on the session anvil."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkml.errors import ChainError, ProofError
from zkml.evm import onchain
from zkml.evm.deploy import deploy_verifier, register_vka
from zkml.evm.felts import FIELD_MODULUS


@pytest.fixture
def plain_address(conn, plain_verifier, tmp_path) -> str:
    return deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True).address


def test_valid_proof_is_accepted(conn, plain_address, mlp) -> None:
    result = onchain.verify_onchain(conn, plain_address, mlp.proof, send=True)
    assert result.accepted, result.reason
    assert 300_000 < result.gas_estimate < 1_500_000
    assert result.gas_used is not None and result.gas_used <= result.gas_estimate
    assert result.calldata_bytes == len(onchain.encode_calldata(onchain.read_proof(mlp.proof)))
    print(f"plain verifier: verify gas {result.gas_used}, calldata {result.calldata_bytes} bytes")


def test_flipped_byte_is_rejected(conn, plain_address, flipped_proof) -> None:
    result = onchain.verify_onchain(conn, plain_address, flipped_proof, send=True)
    assert not result.accepted and "reverted" in result.reason
    assert result.tx_hash is None  # a rejected proof is never sent


def test_proof_of_another_model_is_rejected(conn, plain_address, tiny) -> None:
    result = onchain.verify_onchain(conn, plain_address, tiny.proof)
    assert not result.accepted


def test_altered_public_instances_are_rejected(conn, plain_address, mlp) -> None:
    instances = list(onchain.read_proof(mlp.proof).instances)
    instances[-1] = (instances[-1] + 1) % FIELD_MODULUS  # claim a different output
    result = onchain.verify_onchain(conn, plain_address, mlp.proof, instances=instances)
    assert not result.accepted


def test_no_contract_at_address(conn, mlp) -> None:
    with pytest.raises(ChainError, match="no contract"):
        onchain.verify_onchain(conn, "0x" + "11" * 20, mlp.proof)


def test_reusable_verifier_serves_two_models_with_their_own_vkas(conn, reusable_verifier, vkas, mlp, tiny, tmp_path) -> None:
    vka_a, vka_b = vkas
    deployment = deploy_verifier(conn, reusable_verifier, tmp_path, srs_unsafe=True)
    # Before registration the verifier refuses the VKA.
    before = onchain.verify_onchain(conn, deployment.address, mlp.proof, vka=vka_a)
    assert not before.accepted and "not registered" in before.reason
    reg_a = register_vka(conn, deployment, reusable_verifier, vka_a, tmp_path, srs_unsafe=True)
    register_vka(conn, deployment, reusable_verifier, vka_b, tmp_path, srs_unsafe=True)
    a_ok = onchain.verify_onchain(conn, deployment.address, mlp.proof, vka=vka_a, send=True)
    b_ok = onchain.verify_onchain(conn, deployment.address, tiny.proof, vka=vka_b)
    assert a_ok.accepted and b_ok.accepted
    assert not onchain.verify_onchain(conn, deployment.address, mlp.proof, vka=vka_b).accepted
    assert not onchain.verify_onchain(conn, deployment.address, tiny.proof, vka=vka_a).accepted
    print(
        f"reusable verifier: deploy gas {deployment.gas_used}, registerVka gas {reg_a.gas_used}, "
        f"verify gas {a_ok.gas_used}, calldata {a_ok.calldata_bytes} bytes"
    )
    # Registering again is recognised and costs nothing.
    assert register_vka(conn, deployment, reusable_verifier, vka_a, tmp_path, srs_unsafe=True).reused


# --------------------------------------------------------------------------- calldata and decoding


def test_calldata_matches_ezkl(mlp, tmp_path) -> None:
    from zkml import _ezkl

    ours = onchain.encode_calldata(onchain.read_proof(mlp.proof))
    theirs = bytes(_ezkl.call("encode_evm_calldata", str(mlp.proof), str(tmp_path / "cd.bin"), None))
    # ezkl appends one zero word after the ABI payload; the verifier ignores it.
    assert theirs.rstrip(b"\0") == ours.rstrip(b"\0") and len(theirs) - len(ours) in (0, 32)


def test_decode_instances_matches_ezkl_rescaled(mlp) -> None:
    proof = onchain.read_proof(mlp.proof)
    decoded = onchain.decode_instances(proof.instances, mlp.settings)
    pretty = json.loads(mlp.proof.read_text())["pretty_public_inputs"]
    assert [list(x) for x in decoded.inputs] == [[float(v) for v in row] for row in pretty["rescaled_inputs"]]
    assert [list(x) for x in decoded.outputs] == [[float(v) for v in row] for row in pretty["rescaled_outputs"]]


def test_decode_instances_of_another_circuit_is_an_error(mlp, tiny) -> None:
    other = onchain.read_proof(tiny.proof)
    with pytest.raises(ProofError, match="another circuit"):
        onchain.decode_instances(other.instances, mlp.settings)


def _settings(path: Path, *, inputs: object = "Public", shapes: list[list[int]] | None = None) -> Path:
    run_args = {"logrows": 12, "param_scale": 7, "input_visibility": inputs, "output_visibility": "Public", "param_visibility": "Fixed"}
    data = {
        "run_args": run_args,
        "model_input_scales": [3],
        "model_output_scales": [1],
        "model_instance_shapes": shapes or [[1, 2], [1, 1]],
    }
    path.write_text(json.dumps(data))
    return path


def test_decode_instances_from_settings_or_path(tmp_path) -> None:
    from zkml.settings import read_settings

    path = _settings(tmp_path / "settings.json")
    instances = [8, FIELD_MODULUS - 4, FIELD_MODULUS - 3]  # 1.0, -0.5 at scale 3; -1.5 at scale 1
    for settings in (path, read_settings(path)):
        decoded = onchain.decode_instances(instances, settings)
        assert decoded.inputs == ((1.0, -0.5),) and decoded.outputs == ((-1.5,),)
    with pytest.raises(ProofError, match="another circuit"):
        onchain.decode_instances(instances[:2], path)


def test_decode_instances_refuses_commitments(tmp_path) -> None:
    hashed = _settings(tmp_path / "settings.json", inputs={"Hashed": {"hash_is_public": True}}, shapes=[[1, 1]])
    assert onchain.decode_instances([FIELD_MODULUS - 1], hashed).outputs == ((-0.5,),)  # hashed inputs publish no values
    mismatched = _settings(tmp_path / "other.json", shapes=[[1, 2]])
    with pytest.raises(ProofError, match="commitments, not values"):
        onchain.decode_instances([1, 2], mismatched)
