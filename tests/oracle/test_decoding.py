"""On-chain fixed-point decoding and ids match Python's (zkml.evm.felts, zkml.oracle.encoding, ezkl) exactly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkml import oracle as orc
from zkml.evm.felts import FIELD_MODULUS, felt_to_int

from .conftest import World

HALF = FIELD_MODULUS // 2


def _pure(w: World, fn: str, *args: object) -> int:
    contract = w.conn.w3.eth.contract(address=w.oracle, abi=w.contracts.oracle.abi_list)
    return int(getattr(contract.functions, fn)(*args).call())


def _encode(value: int) -> int:
    """ezkl's encoding of a signed integer: negatives as p - |x|."""
    return value % FIELD_MODULUS


def _felt_to_float(felt: int, scale: int) -> float:
    import ezkl

    return float(ezkl.felt_to_float(felt.to_bytes(32, "little").hex(), scale))


@pytest.mark.parametrize("value", [0, 1, -1, 239, -239, 2**40, -(2**40), HALF, -HALF])
def test_decode_edges(world: World, value: int) -> None:
    felt = _encode(value)
    assert _pure(world, "decodeFelt", felt) == felt_to_int(felt) == value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(st.integers(-(2**64), 2**64), st.integers(-HALF, HALF), st.sampled_from([0, 1, -1, HALF, -HALF])),
    scale=st.integers(0, 24),
)
def test_decoding_matches_python(world: World, value: int, scale: int) -> None:
    felt = _encode(value)
    onchain = _pure(world, "decodeFelt", felt)
    assert onchain == felt_to_int(felt) == value
    if abs(value) < 2**180:  # toWad's documented range (value * 1e18 must fit int256)
        assert _pure(world, "toWad", onchain, scale) == orc.to_wad(value, scale)
    if abs(value) < 2**53:  # where a float holds the value exactly, ezkl's own decoding agrees
        assert onchain / 2.0**scale == _felt_to_float(felt, scale)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(felt=st.integers(FIELD_MODULUS, 2**256 - 1))
def test_decode_refuses_non_canonical(world: World, felt: int) -> None:
    from eth_utils import keccak

    selector = "0x" + keccak(text="FeltOutOfField(uint256)")[:4].hex()
    with pytest.raises(Exception) as info:  # web3 raises ContractCustomError carrying the error data
        _pure(world, "decodeFelt", felt)
    assert selector in str(info.value.args)


def test_commitment_and_id_match_python(world: World) -> None:
    inputs = [1, FIELD_MODULUS - 5, 12345]
    commitment = orc.input_commitment(inputs)
    assert bytes(_call_bytes(world, "inputCommitmentOf", inputs)) == commitment
    assert bytes(_call_bytes(world, "predictionIdOf", b"\7" * 32, commitment)) == orc.prediction_id(b"\7" * 32, commitment)
    for epoch in (1, 48, 2**64 + 5, 2**80 - 1):  # attested ids: the epoch as bytes32
        word = epoch.to_bytes(32, "big")
        assert bytes(_call_bytes(world, "predictionIdOf", b"\7" * 32, word)) == orc.prediction_id(b"\7" * 32, epoch)


def _call_bytes(w: World, fn: str, *args: object) -> bytes:
    contract = w.conn.w3.eth.contract(address=w.oracle, abi=w.contracts.oracle.abi_list)
    return bytes(getattr(contract.functions, fn)(*args).call())
