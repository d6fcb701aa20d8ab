"""Real proofs against real verifiers on the session anvil."""

from __future__ import annotations

import pytest

from zkml.errors import ChainError
from zkml.evm import onchain
from zkml.evm.deploy import deploy_verifier, register_vka


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
    instances[-1] = (instances[-1] + 1) % onchain.FIELD_MODULUS  # claim a different output
    result = onchain.verify_onchain(conn, plain_address, mlp.proof, instances=instances)
    assert not result.accepted


def test_no_contract_at_address(conn, mlp) -> None:
    with pytest.raises(ChainError, match="no contract"):
        onchain.verify_onchain(conn, "0x" + "11" * 20, mlp.proof)


def test_reusable_verifier_serves_two_models_with_their_own_vkas(
    conn, reusable_verifier, vkas, mlp, tiny, tmp_path
) -> None:
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
