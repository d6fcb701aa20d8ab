"""Field elements as signed integers (pure)."""

from __future__ import annotations

from zkml.evm.felts import FIELD_MODULUS, felt_to_int


def test_felt_to_int_negative() -> None:
    assert felt_to_int(FIELD_MODULUS - 5) == -5
    assert felt_to_int(7) == 7


def test_felt_to_int_reduces_and_splits_at_half() -> None:
    half = FIELD_MODULUS // 2
    assert felt_to_int(half) == half and felt_to_int(half + 1) == -half
    assert felt_to_int(FIELD_MODULUS + 3) == 3
