"""PLONK and FFLONK on the circom path: proved, verified locally and on chain, tampered proofs refused by both.

Slow: the session makes the development powers of tau (2^8 prepared for PLONK, 2^11 unprepared
for FFLONK) and sets up the tie model with both systems (tests/circom/conftest.py).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.circom.conftest import UniversalModel
from tests.helpers import flip_proof_byte

pytestmark = pytest.mark.slow


@pytest.fixture(params=["plonk", "fflonk"])
def universal(request: pytest.FixtureRequest) -> UniversalModel:
    model: UniversalModel = request.getfixturevalue(f"{request.param}_tie")
    return model


def test_the_keys_are_the_system_s_on_the_ptau_it_needs(universal: UniversalModel) -> None:
    from zkml.circom.systems import plonk_gates, universal_ptau_power

    keys = universal.keys
    assert keys.ptau.unsafe_reason == "dev-unsafe"
    # The power the system needs, or a larger cached development ptau (it serves smaller circuits).
    assert keys.ptau.logrows >= universal_ptau_power(keys.system, plonk_gates(universal.circuit.r1cs))
    assert json.loads(keys.vk.read_text())["protocol"] == keys.system
    assert universal.proof.outputs == (2, -2)  # 3 * 0.5 and 3 * -0.5, half away from zero
    assert len(universal.proof.proof) == 24 * 32


def test_plonk_gates_are_counted_as_snarkjs_counts_them(plonk_tie: UniversalModel, tmp_path: Path) -> None:
    from zkml.circom import tools
    from zkml.circom.systems import plonk_gates

    out = tools.run("snarkjs", ["plonk", "setup", plonk_tie.circuit.r1cs, plonk_tie.keys.ptau.path, tmp_path / "k.zkey"], doing="setup")
    logged = re.search(r"Plonk constraints: (\d+)", out)
    assert logged is not None and int(logged.group(1)) == plonk_gates(plonk_tie.circuit.r1cs)


def test_a_tampered_proof_is_refused_locally(universal: UniversalModel, tmp_path: Path) -> None:
    from zkml.circom.prove import verify

    assert verify(universal.keys, universal.proof_dir)
    shutil.copytree(universal.proof_dir, tmp_path / "a")
    proof = json.loads((tmp_path / "a" / "proof.json").read_text())
    evaluations = proof["evaluations"] if universal.keys.system == "fflonk" else proof
    key = "ql" if universal.keys.system == "fflonk" else "eval_a"
    evaluations[key] = str(int(evaluations[key]) + 1)
    (tmp_path / "a" / "proof.json").write_text(json.dumps(proof))
    assert not verify(universal.keys, tmp_path / "a")
    shutil.copytree(universal.proof_dir, tmp_path / "b")
    public = json.loads((tmp_path / "b" / "public.json").read_text())
    public[-1] = str(int(public[-1]) + 1)  # another output for the same proof
    (tmp_path / "b" / "public.json").write_text(json.dumps(public))
    assert not verify(universal.keys, tmp_path / "b")


def test_the_adapter_accepts_the_proof_and_refuses_forgeries_on_chain(universal: UniversalModel, conn: Any, tmp_path: Path) -> None:
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.evm.onchain import verify_onchain

    contracts = compile_contracts(universal.keys, universal.circuit.public_signals, tmp_path / "evm")
    deployment = deploy(conn, contracts, universal.keys, tmp_path)
    honest = verify_onchain(conn, deployment.adapter.address, universal.proof.path, send=True)
    assert honest.accepted and honest.gas_used is not None
    assert honest.gas_used > 45_000 + 2 * 34_000  # a two-point pairing check (EIP-1108) was paid for
    flip_proof_byte(universal.proof.path, tmp_path / "flipped.json", index=7 * 32 + 5)
    assert not verify_onchain(conn, deployment.adapter.address, tmp_path / "flipped.json").accepted
    other_output = [*universal.proof.instances[:-1], universal.proof.instances[-1] + 1]
    assert not verify_onchain(conn, deployment.adapter.address, universal.proof.path, instances=other_output).accepted


def test_the_dev_ptau_guard_refuses_a_non_dev_chain(fflonk_tie: UniversalModel, conn5: Any, tmp_path: Path) -> None:
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.ptau import is_dev_ptau
    from zkml.errors import UnsafeSrsError

    ptau = fflonk_tie.keys.ptau
    assert ptau.unsafe_reason == "dev-unsafe" and is_dev_ptau(ptau.path)  # the FFLONK-only file is recorded too
    contracts = compile_contracts(fflonk_tie.keys, fflonk_tie.circuit.public_signals, tmp_path / "evm")
    with pytest.raises(UnsafeSrsError, match="refusing to deploy to chain 5"):
        deploy(conn5, contracts, fflonk_tie.keys, tmp_path)
