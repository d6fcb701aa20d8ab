"""The oracle's encodings in Python (pure; tests/oracle/test_decoding.py checks them against the contracts)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from zkml.errors import OracleError
from zkml.oracle.encoding import default_model_id, hex32, input_commitment, parse_bytes32, prediction_id, to_wad


def test_to_wad_truncates_toward_zero() -> None:
    assert to_wad(-239, 13) == -29174804687500000
    assert to_wad(1, 64) == 0 and to_wad(-1, 64) == 0
    assert to_wad(3, 1) == 15 * 10**17


def test_commitment_and_id_are_the_abi_encodings() -> None:
    inputs = [1, 2**255, 12345]
    assert input_commitment(inputs) == keccak(encode(["uint256"] * 3, inputs))  # encodePacked of uint256[]
    commitment = input_commitment(inputs)
    assert prediction_id(b"\7" * 32, commitment) == keccak(encode(["bytes32", "bytes32"], [b"\7" * 32, commitment]))


def test_an_attested_id_is_keyed_by_the_epoch() -> None:
    # predictionIdOf(modelId, bytes32(epoch)): the epoch as a 32-byte big-endian word.
    assert prediction_id(b"\7" * 32, 48) == keccak(encode(["bytes32", "uint256"], [b"\7" * 32, 48]))
    assert prediction_id(b"\7" * 32, 48) == prediction_id(b"\7" * 32, (48).to_bytes(32, "big")) != prediction_id(b"\7" * 32, 49)


def test_default_model_id_changes_with_the_keys_and_the_source() -> None:
    a = default_model_id("aa", "ss")
    assert len(a) == 32 and a == default_model_id("aa", "ss") and a != default_model_id("ab", "ss") != default_model_id("aa", "st")
    # An attested model never shares an id with the same keys unattested, or over another source.
    source = "0x" + "Ab" * 20
    attested = default_model_id("aa", "ss", source=source)
    assert attested not in (a, default_model_id("aa", "ss", source="0x" + "cd" * 20))
    assert attested == default_model_id("aa", "ss", source=source.lower())  # checksum case does not matter


def test_parse_bytes32() -> None:
    raw = bytes(range(32))
    assert parse_bytes32(hex32(raw)) == raw == parse_bytes32(raw.hex()) == parse_bytes32(raw)
    with pytest.raises(OracleError, match="not hex"):
        parse_bytes32("0xzz")
    with pytest.raises(OracleError, match="expected 32 bytes, got 2"):
        parse_bytes32("0x1234")


def test_feed_key_is_the_oracles_per_feed_replay_scope() -> None:
    from eth_utils import keccak

    from zkml.oracle.encoding import feed_key

    model = bytes(range(32))
    # keccak256(abi.encodePacked(modelId, uint16(index))): 34 bytes, never a 64-byte prediction-id preimage.
    assert feed_key(model, 3) == bytes(keccak(model + b"\x00\x03")) != feed_key(model, 4)
    assert prediction_id(feed_key(model, 0), 48) != prediction_id(model, 48)
    with pytest.raises(OracleError, match="outside 0..65535"):
        feed_key(model, 2**16)
