"""The feature source's arithmetic in Python (pure; tests/oracle/test_feed.py holds the contract to it)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkml.errors import OracleError
from zkml.evm.felts import FIELD_MODULUS, felt_to_int
from zkml.oracle.mirror import (
    INT192_MAX,
    ReturnsSpec,
    answer_of,
    encode_felt,
    input_values,
    price_of,
    quantized_return,
    window_instances,
)

PERCENT = ReturnsSpec(window=1, scale=0)  # multiplier 100: q is the return in whole percent


def _reference(previous: int, price: int, spec: ReturnsSpec) -> int:
    """round(x), halves away from zero, by exact rationals: an implementation apart from the mirror's."""
    x = Fraction(spec.multiplier * 2**spec.scale * (price - previous), previous)
    whole, rest = divmod(abs(x), 1)
    magnitude = int(whole) + (1 if rest >= Fraction(1, 2) else 0)
    return -magnitude if x < 0 else magnitude


@pytest.mark.parametrize(
    ("previous", "price", "q"),
    [
        (100, 101, 1),
        (100, 99, -1),
        (3, 4, 33),  # 33.33
        (3, 5, 67),  # 66.67
        (3, 2, -33),
        (3, 1, -67),
        (10_000, 1, -100),  # -99.99%
        (1, 1001, 100_000),  # x1001
        (7, 7, 0),
    ],
)
def test_hand_checked_percent_returns(previous: int, price: int, q: int) -> None:
    assert quantized_return(previous, price, PERCENT) == q


@pytest.mark.parametrize(
    ("previous", "price", "q"),
    [
        (200, 201, 1),  # +0.5 -> 1
        (200, 199, -1),  # -0.5 -> -1
        (200, 203, 2),  # +1.5 -> 2
        (200, 197, -2),  # -1.5 -> -2
        (40, 41, 3),  # +2.5 -> 3
        (40, 39, -3),  # -2.5 -> -3
        (201, 202, 0),  # 0.4975: below the half
        (199, 200, 1),  # 0.5025: above it
        (201, 200, 0),
        (199, 198, -1),
    ],
)
def test_exact_halves_round_away_from_zero(previous: int, price: int, q: int) -> None:
    assert quantized_return(previous, price, PERCENT) == q


def test_halves_at_a_scale() -> None:
    spec = ReturnsSpec(window=1, scale=2, multiplier=1)  # q = round(4 * r)
    assert quantized_return(8, 9, spec) == 1  # 4/8 = 0.5
    assert quantized_return(8, 7, spec) == -1
    assert quantized_return(8, 11, spec) == 2  # 1.5
    assert quantized_return(8, 5, spec) == -2


def test_feed_magnitudes_at_8_and_18_decimals() -> None:
    spec = ReturnsSpec(window=1, scale=13)
    # +1% and -1% are exactly 2**13 at scale 13, whatever the decimals.
    assert quantized_return(1834_25000000, 1852_59250000, spec) == 8192
    assert quantized_return(3000 * 10**18, 2970 * 10**18, spec) == -8192
    # 0.1234% of an 18-decimal price: 0.1234 * 8192 = 1010.89 -> 1011.
    assert quantized_return(10**21, 10**21 + 1234 * 10**15, spec) == 1011
    # The largest answers: a 1-wei fall from int192 max is no return at all; a fall to 1 is -100%.
    big = ReturnsSpec(window=1, scale=32)
    assert quantized_return(INT192_MAX, INT192_MAX - 1, big) == 0
    assert quantized_return(INT192_MAX, 1, big) == -100 * 2**32
    assert quantized_return(1, INT192_MAX, ReturnsSpec(1, 32, 10**6)) == 10**6 * 2**32 * (INT192_MAX - 1)


@settings(max_examples=300, deadline=None)
@given(
    previous=st.integers(1, INT192_MAX),
    price=st.integers(1, INT192_MAX),
    scale=st.integers(0, 32),
    multiplier=st.sampled_from([1, 3, 100, 10_000, 10**6]),
)
def test_matches_exact_rational_rounding(previous: int, price: int, scale: int, multiplier: int) -> None:
    spec = ReturnsSpec(window=1, scale=scale, multiplier=multiplier)
    assert quantized_return(previous, price, spec) == _reference(previous, price, spec)


def test_window_instances_oldest_first_encoded_as_felts() -> None:
    spec = ReturnsSpec(window=3, scale=0)
    assert window_instances([100, 101, 100, 100], spec) == [1, FIELD_MODULUS - 1, 0]
    with pytest.raises(OracleError, match="needs 4 prices, got 3"):
        window_instances([100, 101, 100], spec)


@pytest.mark.parametrize("q", [0, 1, -1, 8192, -8192, 2**53 - 1, -(2**53), 10**6 * 2**32 * (INT192_MAX - 1), -(FIELD_MODULUS // 2)])
def test_encode_felt_round_trips_through_zkml_decoding(q: int) -> None:
    felt = encode_felt(q)
    assert 0 <= felt < FIELD_MODULUS and felt == q % FIELD_MODULUS
    assert felt_to_int(felt) == q


def test_encode_felt_refuses_what_has_no_signed_felt() -> None:
    with pytest.raises(OracleError, match="too large"):
        encode_felt(FIELD_MODULUS // 2 + 1)
    with pytest.raises(OracleError, match="too large"):
        encode_felt(-(FIELD_MODULUS // 2) - 1)


def test_input_values_are_exact() -> None:
    assert input_values([encode_felt(8192), encode_felt(-3), 0], 13) == [1.0, -3 / 8192, 0.0]
    assert input_values([-3, 5], 1) == [-1.5, 2.5]  # signed integers too
    assert input_values([2**53 - 1], 0) == [float(2**53 - 1)]
    with pytest.raises(OracleError, match="not exact in a float"):
        input_values([2**53], 0)
    with pytest.raises(OracleError, match="not exact in a float"):
        input_values([encode_felt(-(2**53))], 7)
    with pytest.raises(OracleError, match="neither a BN254 field element"):
        input_values([FIELD_MODULUS], 0)
    with pytest.raises(OracleError, match="scale"):
        input_values([1], -1)


@settings(max_examples=100, deadline=None)
@given(q=st.integers(-(2**53) + 1, 2**53 - 1), scale=st.sampled_from([0, 7, 13, 20, 32]))
def test_ezkl_quantizes_the_input_values_back_to_the_instances(q: int, scale: int) -> None:
    """The prover's input q / 2**scale gives ezkl exactly the attested instance."""
    ezkl = pytest.importorskip("ezkl")
    felt = encode_felt(q)
    (value,) = input_values([felt], scale)
    assert int.from_bytes(bytes.fromhex(ezkl.float_to_felt(value, scale)), "little") == felt


@pytest.mark.parametrize(
    ("price", "decimals", "answer"),
    [
        ("1834.25", 8, 183425000000),
        (Decimal("1834.25"), 8, 183425000000),
        (1834.25, 8, 183425000000),
        (0.1, 18, 10**17),  # the float's repr, not its binary expansion (0.1000000000000000055...)
        (3000, 18, 3000 * 10**18),
        ("0.000000005", 8, 1),  # half a unit: away from zero
        ("0.000000015", 8, 2),
        ("0.0000000149", 8, 1),
        (" 42 ", 0, 42),
        # More digits than Decimal's default 28-digit context: still exact.
        ("123456789012345678901234567890.123456789012345678", 18, 123456789012345678901234567890123456789012345678),
    ],
)
def test_answer_of(price: str | Decimal | float | int, decimals: int, answer: int) -> None:
    assert answer_of(price, decimals) == answer
    assert answer_of(price_of(answer, decimals), decimals) == answer


@pytest.mark.parametrize(
    ("price", "decimals", "match"),
    [
        ("0", 8, "must be positive"),
        ("-1834.25", 8, "must be positive"),
        ("0.000000004", 8, "must be positive"),  # rounds to 0
        (str(INT192_MAX + 1), 0, "beyond int192"),
        ("1e60", 0, "beyond int192"),
        ("abc", 8, "not a number"),
        ("NaN", 8, "not a finite"),
        ("inf", 8, "not a finite"),
        (True, 8, "not a price"),
        ("1", -1, "decimals"),
    ],
)
def test_answer_of_refuses(price: str | Decimal | float | int, decimals: int, match: str) -> None:
    with pytest.raises(OracleError, match=match):
        answer_of(price, decimals)


def test_price_of_is_exact() -> None:
    assert price_of(183425000000, 8) == Decimal("1834.25")
    assert str(price_of(INT192_MAX, 18)) == f"{str(INT192_MAX)[:-18]}.{str(INT192_MAX)[-18:]}"


@pytest.mark.parametrize(
    ("window", "scale", "multiplier"),
    [(0, 0, 100), (257, 0, 100), (1, -1, 100), (1, 33, 100), (1, 0, 0), (1, 0, 10**6 + 1), (True, 0, 100), (1.0, 0, 100)],
)
def test_spec_bounds_are_the_constructor_bounds(window: int, scale: int, multiplier: int) -> None:
    with pytest.raises(OracleError, match="must be an integer in"):
        ReturnsSpec(window, scale, multiplier)


def test_spec_edges_are_accepted() -> None:
    assert ReturnsSpec(256, 32, 10**6).as_dict() == {"window": 256, "scale": 32, "multiplier": 10**6, "max_change_bps": 0}
    assert ReturnsSpec(1, 0, 1, 10**6).max_change_bps == 10**6  # the circuit breaker: tests/oracle/test_circuit_breaker.py
    assert ReturnsSpec(1, 0, 1).multiplier == 1


@pytest.mark.parametrize(("previous", "price"), [(0, 1), (1, 0), (-5, 1), (1, -5), (INT192_MAX + 1, 1), (1, INT192_MAX + 1)])
def test_quantized_return_refuses_what_the_source_calls_a_bad_round(previous: int, price: int) -> None:
    with pytest.raises(OracleError, match="not a positive int192 answer"):
        quantized_return(previous, price, PERCENT)


def test_feeds_instances_put_feed_k_as_sample_k() -> None:
    from zkml.oracle.mirror import feeds_instances

    spec = ReturnsSpec(window=2, scale=4)
    windows = [[100, 101, 99], [200, 200, 210]]
    assert feeds_instances(windows, spec) == window_instances(windows[0], spec) + window_instances(windows[1], spec)
    with pytest.raises(OracleError, match="needs 3 prices"):
        feeds_instances([[100, 101]], spec)
