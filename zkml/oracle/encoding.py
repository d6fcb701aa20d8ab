"""The oracle's encodings, mirrored in Python (pure: no chain).

Each function computes exactly what the contracts compute, so a client can
derive ids and expected values offline and tests can check both sides agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkml.errors import OracleError

MODEL_ID_DOMAIN = "zkml.model.v1"


def input_commitment(input_instances: Sequence[int]) -> bytes:
    """``keccak256(abi.encodePacked(uint256[]))`` of the input instances (or the one hash)."""
    from eth_utils import keccak

    return bytes(keccak(b"".join(int(v).to_bytes(32, "big") for v in input_instances)))


def prediction_id(model_id: bytes, key: bytes | int) -> bytes:
    """``keccak256(abi.encode(modelId, key))``: the oracle's replay key.

    ``key`` is the data epoch of an attested model (an int) or the input commitment of an
    unattested one (32 bytes).
    """
    from eth_utils import keccak

    word = key.to_bytes(32, "big") if isinstance(key, int) else bytes(key)
    return bytes(keccak(bytes(model_id) + word))


def feed_key(model_id: bytes, index: int) -> bytes:
    """``keccak256(abi.encodePacked(modelId, uint16(index)))``: feed ``index``'s replay scope in a multi-feed model.

    Its samples' prediction ids are ``prediction_id(feed_key(model_id, index), epoch)``.

    Raises:
        OracleError: an index outside uint16 (a batch is never that large).
    """
    from eth_utils import keccak

    if not 0 <= index < 2**16:
        raise OracleError(f"feed index {index} is outside 0..65535")
    return bytes(keccak(bytes(model_id) + int(index).to_bytes(2, "big")))


def to_wad(value: int, scale: int) -> int:
    """``value / 2**scale`` as 1e18 fixed point, truncated toward zero (as ``FixedPoint.toWad``)."""
    numerator = value * 10**18
    quotient = abs(numerator) // (1 << scale)
    return quotient if numerator >= 0 else -quotient


def default_model_id(vk_sha256: str, settings_sha256: str, *, source: str | None = None) -> bytes:
    """A model id derived from the verifying key and settings: a new key is a new id (an upgrade).

    An attested model's id also covers its feature source, so the same keys registered
    unattested (or over another feed) never share an id with it.
    """
    from eth_utils import keccak

    suffix = f":source:{source.lower()}" if source else ""
    return bytes(keccak(text=f"{MODEL_ID_DOMAIN}:{vk_sha256}:{settings_sha256}{suffix}"))


def parse_bytes32(value: str | bytes) -> bytes:
    """A ``0x`` hex string (or bytes) as 32 bytes.

    Raises:
        OracleError: not 32 bytes of hex.
    """
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(value.removeprefix("0x"))
        except ValueError as exc:
            raise OracleError(f"{value!r} is not hex", hint="pass a 0x-prefixed 32-byte hex value") from exc
    if len(raw) != 32:
        raise OracleError(f"expected 32 bytes, got {len(raw)}", hint="pass a 0x-prefixed 32-byte hex value")
    return raw


def hex32(value: bytes) -> str:
    """32 bytes as ``0x`` hex (how ids appear in records and JSON)."""
    return "0x" + bytes(value).hex()


__all__ = ["default_model_id", "feed_key", "hex32", "input_commitment", "parse_bytes32", "prediction_id", "to_wad"]
