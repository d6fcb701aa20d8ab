"""circuits/mlp_regressor through the circom backend: equal to halo2, verified locally, on chain and by the oracle.

Slow: the session makes the development powers of tau and proves the example circuit with
both backends (tests/circom/conftest.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.circom.conftest import Groth16Model
from tests.helpers import flip_proof_byte
from zkml.errors import OracleRevertError, UnsafeSrsError, VerificationFailedError

pytestmark = pytest.mark.slow


def test_the_public_signals_equal_the_halo2_instances(g16_mlp: Groth16Model, mlp: Any) -> None:
    from zkml.evm.onchain import read_proof

    assert g16_mlp.proof.instances == read_proof(mlp.proof).instances  # inputs and outputs, element for element
    assert read_proof(g16_mlp.proof.path).instances == g16_mlp.proof.instances


def test_a_tampered_proof_is_refused_locally(g16_mlp: Groth16Model, tmp_path: Path) -> None:
    from zkml.circom.prove import verify

    assert verify(g16_mlp.keys, g16_mlp.proof_dir)
    shutil.copytree(g16_mlp.proof_dir, tmp_path / "a")
    proof = json.loads((tmp_path / "a" / "proof.json").read_text())
    proof["pi_c"][0] = str(int(proof["pi_c"][0]) + 1)
    (tmp_path / "a" / "proof.json").write_text(json.dumps(proof))
    assert not verify(g16_mlp.keys, tmp_path / "a")
    shutil.copytree(g16_mlp.proof_dir, tmp_path / "b")
    public = json.loads((tmp_path / "b" / "public.json").read_text())
    public[-1] = str(int(public[-1]) + 1)  # another output for the same proof
    (tmp_path / "b" / "public.json").write_text(json.dumps(public))
    assert not verify(g16_mlp.keys, tmp_path / "b")


def _deploy(g16: Groth16Model, conn: Any, folder: Path) -> Any:
    from zkml.circom.evm import compile_contracts, deploy

    contracts = compile_contracts(g16.keys, g16.circuit.public_signals, folder / "evm")
    return deploy(conn, contracts, g16.keys, folder)


def test_the_adapter_verifies_on_chain_for_less_gas_than_halo2(g16_mlp: Groth16Model, mlp: Any, chain: Any, tmp_path: Path) -> None:
    from zkml.evm.onchain import verify_onchain

    conn = chain.conn
    deployment = _deploy(g16_mlp, conn, tmp_path)
    honest = verify_onchain(conn, deployment.adapter.address, g16_mlp.proof.path, send=True)
    halo2 = verify_onchain(conn, chain.mlp_verifier, mlp.proof, send=True)
    assert honest.accepted and halo2.accepted
    assert honest.gas_used is not None and halo2.gas_used is not None and honest.gas_used < halo2.gas_used
    # Four pairings cost 181,000 gas (EIP-1108) whatever the circuit: the mined call must have paid them.
    assert honest.gas_used > 181_000
    flip_proof_byte(g16_mlp.proof.path, tmp_path / "flipped.json", index=40)
    assert not verify_onchain(conn, deployment.adapter.address, tmp_path / "flipped.json").accepted
    other_output = [*g16_mlp.proof.instances[:-1], g16_mlp.proof.instances[-1] + 1]
    assert not verify_onchain(conn, deployment.adapter.address, g16_mlp.proof.path, instances=other_output).accepted


def test_the_oracle_publishes_a_groth16_prediction_and_refuses_forgeries(
    g16_mlp: Groth16Model, g16_tiny: Groth16Model, market: Any, chain: Any, tmp_path: Path
) -> None:
    from zkml.circom.oracle import register_groth16
    from zkml.circom.prove import prove
    from zkml.oracle.client import publish
    from zkml.oracle.feed import attested_input

    conn, owner = chain.conn, chain.owner
    deployment = _deploy(g16_mlp, conn, tmp_path)
    registration = register_groth16(
        conn, chain.oracle, g16_mlp.workspace, g16_mlp.keys, deployment, feature_source=market.source, max_epoch_lag=4, sender=owner
    )
    mid = registration.model_id
    window = attested_input(conn, market.feed, market.latest, market.spec)
    proof = prove(g16_mlp.circuit, g16_mlp.keys, window.instances, tmp_path / "epoch")
    flip_proof_byte(proof.path, tmp_path / "flipped.json", index=200)
    with pytest.raises(VerificationFailedError):
        publish(conn, chain.oracle, mid, tmp_path / "flipped.json", epochs=[market.latest], sender=owner)
    with pytest.raises(OracleRevertError):  # a valid Groth16 proof, of another model
        publish(conn, chain.oracle, mid, g16_tiny.proof.path, epochs=[market.latest], sender=owner)
    with pytest.raises(VerificationFailedError):  # the halo2 proof of the same window: another verifier's proof
        publish(conn, chain.oracle, mid, market.proof, epochs=[market.latest], sender=owner)
    published = publish(conn, chain.oracle, mid, proof.path, epochs=[market.latest], sender=owner)
    assert published.prediction.floats == pytest.approx([v / 2**g16_mlp.circuit.graph.scale for v in proof.outputs])
    assert published.gas_used is not None and published.gas_used > 0


def test_the_dev_setup_guard_refuses_a_non_dev_chain(g16_mlp: Groth16Model, conn5: Any, tmp_path: Path) -> None:
    from zkml.circom.oracle import register_groth16
    from zkml.circom.ptau import KNOWN_DEV_DIGESTS, is_dev_ptau

    ptau = g16_mlp.keys.ptau
    assert ptau.unsafe_reason == "dev-unsafe" and is_dev_ptau(ptau.path)
    assert ptau.sha256 == KNOWN_DEV_DIGESTS[ptau.logrows]  # the same bytes as in any other cache: recognisable
    nonce = conn5.w3.eth.get_transaction_count(conn5.w3.eth.accounts[0])
    with pytest.raises(UnsafeSrsError, match="refusing to deploy to chain 5"):
        _deploy(g16_mlp, conn5, tmp_path)
    assert conn5.w3.eth.get_transaction_count(conn5.w3.eth.accounts[0]) == nonce  # refused before anything was sent
    with pytest.raises(UnsafeSrsError):
        register_groth16(conn5, "0x" + "11" * 20, g16_mlp.workspace, g16_mlp.keys, _fake_deployment())


def _fake_deployment() -> Any:
    """Registration must refuse before it looks at the deployment: any object will do."""
    from zkml.circom.evm import Groth16Deployment

    return Groth16Deployment(verifier=None, adapter=None)  # type: ignore[arg-type]
