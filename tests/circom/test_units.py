"""Pure helpers of the circom backend: ptau sizing, proof encoding, field encoding, the adapter's source."""

from __future__ import annotations

import pytest

from zkml.circom.evm import adapter_source
from zkml.circom.prove import from_field, proof_bytes, to_field
from zkml.circom.ptau import MIN_POWER, power_for
from zkml.dev_srs import ORDER
from zkml.errors import EvmError, SrsError


def test_the_smallest_power_that_holds_the_circuit() -> None:
    assert power_for(1950, 9) == 11  # the MLP: 1,960 <= 2^11
    assert power_for(2038, 9) == 11 and power_for(2039, 9) == 12
    assert power_for(10, 1) == MIN_POWER
    with pytest.raises(SrsError, match="halo2"):
        power_for(1 << 22, 9)


def test_negative_values_are_encoded_as_ezkl_encodes_them() -> None:
    assert to_field(-7609) == ORDER - 7609 and from_field(ORDER - 7609) == -7609
    assert from_field(to_field(9504)) == 9504


def test_proof_bytes_swap_each_g2_coordinate_for_the_precompile() -> None:
    proof = {"pi_a": ["1", "2", "1"], "pi_b": [["3", "4"], ["5", "6"], ["1", "0"]], "pi_c": ["7", "8", "1"]}
    words = [int.from_bytes(proof_bytes(proof)[i : i + 32], "big") for i in range(0, 256, 32)]
    assert words == [1, 2, 4, 3, 6, 5, 7, 8]


def test_the_adapter_is_made_for_the_verifiers_signal_count() -> None:
    source = adapter_source(9)
    assert "uint256[9])" in source and "INSTANCES = 9;" in source and "revert InvalidProof()" in source
    with pytest.raises(EvmError):
        adapter_source(0)
