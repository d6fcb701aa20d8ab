"""BN254 scalar field elements as the circuits publish them (pure: no web3).

ezkl writes each public instance as a field element: a signed fixed-point value
``round(x * 2**scale)`` with negatives stored as ``p - |x|``. Both the on-chain
decoding (:mod:`zkml.evm.onchain`) and the oracle need the modulus and the
signed reading, so they live here, apart from either.
"""

from __future__ import annotations

# BN254 scalar field modulus: instances are elements of this field.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def felt_to_int(value: int) -> int:
    """A field element as a signed integer: values above ``p/2`` stand for ``-(p - value)``."""
    value %= FIELD_MODULUS
    return value - FIELD_MODULUS if value > FIELD_MODULUS // 2 else value


__all__ = ["FIELD_MODULUS", "felt_to_int"]
