"""The proof systems' sizing rules, the FFLONK-only ptau marker and the adapters (no snarkjs run)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from zkml.circom.evm import adapter_source
from zkml.circom.ptau import mark_powers_only
from zkml.circom.systems import SYSTEMS, _gates, domain_power, system, universal_ptau_power
from zkml.dev_srs import ORDER
from zkml.errors import ConfigError, SrsError


def test_the_ptau_powers_follow_snarkjs_s_setup_checks() -> None:
    # mlp_regressor: 3,910 PLONK gates. PLONK: a 2^12 domain read from the prepared 2^12 ptau.
    assert domain_power("plonk", 3910) == 12 and universal_ptau_power("plonk", 3910) == 12
    # FFLONK: the same domain, but 9 * 4096 + 18 = 36,882 powers in G1; 2^14 holds 32,767, 2^15 65,535.
    assert domain_power("fflonk", 3910) == 12 and universal_ptau_power("fflonk", 3910) == 15
    assert domain_power("plonk", 4097) == 13 and domain_power("plonk", 4096) == 12
    assert domain_power("fflonk", 4095) == 13  # FFLONK counts two blinding rows: n + 1 must fit
    assert domain_power("plonk", 2) == 3  # never below 2^3


def test_gates_per_constraint_follow_snarkjs() -> None:
    a, b = {1: 1}, {2: 1}
    assert _gates(a, b, {3: 1}) == 1  # one multiplication gate
    assert _gates({1: 1, 4: 2, 5: 3}, b, {3: 1}) == 3  # two extra terms in A: two addition gates
    assert _gates({}, {}, {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}) == 3  # a linear constraint: 3 per gate, 1 per extra term
    assert _gates({0: 2}, {1: 1}, {1: 2}) == 1  # 2 * x = 2x: a constant factor joins a sum gate (it cancels to empty)
    assert _gates({0: ORDER - 1}, {1: 1, 2: 1}, {3: 1, 4: 1, 5: 1}) == 3  # -(x1 + x2) = x3 + x4 + x5: 5 terms


def test_an_unknown_system_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown circom proof system 'stark'"):
        system("stark")


def test_each_adapter_forwards_to_its_verifier_s_signature() -> None:
    plonk, fflonk, groth16 = (adapter_source(9, SYSTEMS[n]) for n in ("plonk", "fflonk", "groth16"))
    assert 'keccak256("verifyProof(uint256[24],uint256[9])")' in plonk and "proof.length != 768" in plonk
    assert 'keccak256("verifyProof(bytes32[24],uint256[9])")' in fflonk and "contract FflonkAdapter" in fflonk
    assert 'keccak256("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[9])")' in groth16 and "proof.length != 256" in groth16


def test_the_fflonk_only_ptau_gets_an_empty_section_12(tmp_path: Path) -> None:
    source = tmp_path / "in.ptau"
    source.write_bytes(b"ptau" + struct.pack("<II", 1, 2) + struct.pack("<IQ", 1, 4) + b"abcd" + struct.pack("<IQ", 2, 0))
    mark_powers_only(source, tmp_path / "out.ptau")
    data = (tmp_path / "out.ptau").read_bytes()
    assert struct.unpack_from("<I", data, 8)[0] == 3
    assert data.endswith(struct.pack("<IQ", 12, 0)) and data[12:-12] == source.read_bytes()[12:]
    (tmp_path / "bad").write_bytes(b"nope")
    with pytest.raises(SrsError, match="not a ptau file"):
        mark_powers_only(tmp_path / "bad", tmp_path / "x")
