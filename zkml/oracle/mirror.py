"""The feature source's arithmetic in Python integers (pure: no web3), bit for bit as the contract does it.

``ReturnsFeatureSource`` turns the prices of rounds ``E - window .. E`` of a feed
(the latest ``window + 1`` good rounds up to ``E``: a bad round inside the window is
skipped, at most :data:`MAX_SKIPPED` of them) into the circuit's input instances for epoch ``E``::

    q_i = round(multiplier * 2**scale * (p_i - p_{i-1}) / p_{i-1})    halves away from zero

computed exactly in integers, each encoded as a BN254 field element (a negative
``q`` as ``p - |q|``). This module computes the same, so a prover can build its
input without trusting the source, and tests can hold the contract to it:
``q / 2**scale`` is exact in a float, and ezkl quantizes that float back to
exactly ``q`` (it rounds halves away from zero too).

With a circuit breaker (``max_change_bps`` > 0) an epoch whose window holds a pair of
consecutive good rounds with ``|p_i - p_{i-1}| * 10000 > max_change_bps * p_{i-1}`` is
refused (the contract's ``CircuitBreaker(epoch, round)``): :func:`check_breaker`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from zkml.errors import OracleError
from zkml.evm.felts import FIELD_MODULUS, felt_to_int

# The contract's constructor bounds (ReturnsFeatureSource), which keep its arithmetic inside int256.
MAX_WINDOW = 256
MAX_SCALE = 32
MAX_MULTIPLIER = 10**6
# ReturnsFeatureSource.MAX_CHANGE_BPS_LIMIT: a change of 10,000% between consecutive rounds.
MAX_CHANGE_BPS = 10**6
BPS = 10_000
# Chainlink's answer range: PushFeed stores int192, the source refuses larger answers.
INT192_MAX = 2**191 - 1
INT192_MIN = -(2**191)
# An epoch's window skips at most this many bad rounds (ReturnsFeatureSource.MAX_SKIPPED); more reverts BadRound.
MAX_SKIPPED = 16
BREAKER_HINT = (
    "no prediction is made on a window holding a jump over the source's maxChangeBps; "
    "epochs whose window no longer holds the jump (window rounds later) work again"
)
# Integers a float holds exactly: beyond this q / 2**scale would not round-trip.
FLOAT_EXACT = 2**53


@dataclass(frozen=True)
class ReturnsSpec:
    """How a ReturnsFeatureSource turns prices into input instances (its constructor arguments).

    Attributes:
        window: returns per epoch (the model's input width), 1..256.
        scale: the circuit's input scale (fixed-point bits), 0..32.
        multiplier: the return's unit (100: percent, 10000: basis points), 1..1e6.
        max_change_bps: the circuit breaker: the largest change between consecutive rounds of a window, in basis
            points of the earlier price, 0..1e6; 0 turns it off.

    Raises:
        OracleError: a value outside the contract's constructor bounds.
    """

    window: int
    scale: int
    multiplier: int = 100
    max_change_bps: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("window", self.window, 1, MAX_WINDOW),
            ("scale", self.scale, 0, MAX_SCALE),
            ("multiplier", self.multiplier, 1, MAX_MULTIPLIER),
            ("max_change_bps", self.max_change_bps, 0, MAX_CHANGE_BPS),
        )
        for name, value, low, high in checks:
            # bool is an int: refuse it too, as the ABI would not take True for a uint.
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise OracleError(
                    f"returns feature source {name} must be an integer in {low}..{high}, not {value!r}",
                    hint="ReturnsFeatureSource's constructor refuses it the same way",
                )

    def as_dict(self) -> dict[str, int]:
        """Plain-JSON form."""
        return {"window": self.window, "scale": self.scale, "multiplier": self.multiplier, "max_change_bps": self.max_change_bps}


def _check_price(price: int, what: str) -> None:
    if not isinstance(price, int) or isinstance(price, bool) or not 0 < price <= INT192_MAX:
        raise OracleError(
            f"{what} {price!r} is not a positive int192 answer",
            hint="the feature source never uses such a round: it skips it inside a window and refuses it as an epoch (BadRound)",
        )


def quantized_return(previous: int, price: int, spec: ReturnsSpec) -> int:
    """``round(multiplier * 2**scale * (price - previous) / previous)``, halves away from zero, as the contract computes it.

    Raises:
        OracleError: a price that is not a positive int192 answer (the contract's ``BadRound``).
    """
    _check_price(previous, "previous price")
    _check_price(price, "price")
    num = (spec.multiplier << spec.scale) * (price - previous)
    den = previous
    # round(|num| / den) = floor((2|num| + den) / (2 den)) for den > 0: the contract's formula.
    magnitude = (2 * abs(num) + den) // (2 * den)
    return -magnitude if num < 0 else magnitude


def encode_felt(q: int) -> int:
    """A signed integer as a BN254 field element (a negative as ``p - |q|``), as ezkl and the contract encode it.

    Raises:
        OracleError: ``|q|`` beyond ``p // 2``, where the signed reading would not give ``q`` back.
    """
    if abs(q) > FIELD_MODULUS // 2:
        raise OracleError(f"{q} is too large for a signed BN254 field element", hint=f"|q| must be at most {FIELD_MODULUS // 2}")
    return FIELD_MODULUS - (-q) if q < 0 else q


def window_instances(prices: Sequence[int], spec: ReturnsSpec) -> list[int]:
    """One epoch's input instances: the ``window`` returns of ``window + 1`` prices (rounds E - window .. E, oldest first).

    Raises:
        OracleError: not exactly ``window + 1`` prices, or one is not a positive int192 answer.
    """
    if len(prices) != spec.window + 1:
        raise OracleError(f"a window of {spec.window} returns needs {spec.window + 1} prices, got {len(prices)}")
    return [encode_felt(quantized_return(prices[i], prices[i + 1], spec)) for i in range(spec.window)]


def feeds_instances(windows: Sequence[Sequence[int]], spec: ReturnsSpec) -> list[int]:
    """A multi-feed batch's input instances at one epoch: feed k's window as sample k, sample-major
    (each window ``window + 1`` prices, as :func:`window_instances` takes them).

    Raises:
        OracleError: a window of the wrong length or with a price that is not a positive int192 answer.
    """
    return [felt for prices in windows for felt in window_instances(prices, spec)]


def breaker_index(prices: Sequence[int], spec: ReturnsSpec) -> int | None:
    """The first ``i`` whose change ``|p_i - p_{i-1}|`` exceeds ``max_change_bps`` of ``p_{i-1}`` (None: none does, or off).

    Exact integers, as the contract's ``_breaks``: ``|p_i - p_{i-1}| * 10000 > max_change_bps * p_{i-1}``.
    """
    if spec.max_change_bps == 0:
        return None
    for i in range(1, len(prices)):
        if abs(prices[i] - prices[i - 1]) * BPS > spec.max_change_bps * prices[i - 1]:
            return i
    return None


def check_breaker(epoch: int, round_ids: Sequence[int], prices: Sequence[int], spec: ReturnsSpec) -> None:
    """Refuse ``epoch`` as the source's circuit breaker does (``CircuitBreaker(epoch, round)``).

    Args:
        epoch: the epoch whose window this is.
        round_ids: the window's rounds (the latest ``window + 1`` good rounds up to the epoch), oldest first.
        prices: their answers.
        spec: the source's parameters.

    Raises:
        OracleError: a consecutive pair changes by more than ``max_change_bps``; it names the epoch and the later round.
    """
    if len(round_ids) != len(prices):
        raise OracleError(f"{len(round_ids)} round ids for {len(prices)} prices")
    i = breaker_index(prices, spec)
    if i is not None:
        change = Decimal(abs(prices[i] - prices[i - 1]) * BPS) / prices[i - 1]
        raise OracleError(
            f"epoch {epoch} is refused by the circuit breaker: round {round_ids[i]} moved the price {change:.0f} bps "
            f"(from {prices[i - 1]} to {prices[i]}), above the source's max_change_bps {spec.max_change_bps}",
            hint=BREAKER_HINT,
        )


def input_values(felts_or_q: Sequence[int], scale: int) -> list[float]:
    """The prover's input for these instances: ``q / 2**scale``, each exact in a float.

    Args:
        felts_or_q: field elements (as :func:`window_instances` gives them) or signed integers.
        scale: the circuit's input scale.

    Raises:
        OracleError: a value outside the field, a negative scale, or ``|q| >= 2**53`` (its float would not be exact,
            so ezkl would quantize it to another instance).
    """
    if not isinstance(scale, int) or scale < 0:
        raise OracleError(f"scale must be a non-negative integer, not {scale!r}")
    values = []
    for value in felts_or_q:
        if not -(FIELD_MODULUS // 2) <= value < FIELD_MODULUS:
            raise OracleError(f"{value} is neither a BN254 field element nor a signed one")
        q = felt_to_int(value)
        if abs(q) >= FLOAT_EXACT:
            raise OracleError(
                f"quantized value {q} is not exact in a float (|q| >= 2**53)",
                hint="lower the input scale or the multiplier, or bound the returns the model sees",
            )
        # Division by a power of two is exact for |q| < 2**53.
        values.append(q / 2.0**scale)
    return values


def _exact_decimal(price: str | Decimal | float | int) -> Decimal:
    if isinstance(price, bool):
        raise OracleError(f"{price!r} is not a price")
    if isinstance(price, float):
        # A float's shortest repr is the number a person wrote (0.1, not 0.1000000000000000055...).
        price = repr(price)
    try:
        value = Decimal(price.strip() if isinstance(price, str) else price)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise OracleError(f"{price!r} is not a number", hint="give a price such as 1834.25") from exc
    if not value.is_finite():
        raise OracleError(f"{price!r} is not a finite price")
    return value


def answer_of(price: str | Decimal | float | int, decimals: int) -> int:
    """A human price as the feed's integer answer: ``price * 10**decimals``, exactly, halves away from zero.

    Args:
        price: the price (``"1834.25"``, ``Decimal``, ``float`` (read as its shortest repr) or ``int``).
        decimals: the feed's ``decimals()``.

    Raises:
        OracleError: not a finite number, non-positive once rounded, or beyond int192.
    """
    if not isinstance(decimals, int) or decimals < 0:
        raise OracleError(f"decimals must be a non-negative integer, not {decimals!r}")
    # as_integer_ratio is exact; Decimal arithmetic would round at the context's 28 digits.
    num, den = _exact_decimal(price).as_integer_ratio()
    num *= 10**decimals
    magnitude = (2 * abs(num) + den) // (2 * den)
    answer = -magnitude if num < 0 else magnitude
    if answer <= 0:
        raise OracleError(f"price {price} is {answer} at {decimals} decimals", hint="a feed price must be positive")
    if answer > INT192_MAX:
        raise OracleError(f"price {price} at {decimals} decimals is beyond int192", hint="a feed answer is at most 2**191 - 1")
    return answer


def price_of(answer: int, decimals: int) -> Decimal:
    """A feed answer as the human price, exactly (``answer / 10**decimals``; the inverse of :func:`answer_of`).

    Raises:
        OracleError: decimals negative.
    """
    if not isinstance(decimals, int) or decimals < 0:
        raise OracleError(f"decimals must be a non-negative integer, not {decimals!r}")
    # The string constructor is exact; Decimal division would round at the context's 28 digits.
    return Decimal(f"{int(answer)}e-{decimals}")


__all__ = [
    "FIELD_MODULUS",
    "INT192_MAX",
    "INT192_MIN",
    "MAX_SKIPPED",
    "MAX_CHANGE_BPS",
    "ReturnsSpec",
    "answer_of",
    "breaker_index",
    "check_breaker",
    "encode_felt",
    "feeds_instances",
    "input_values",
    "price_of",
    "quantized_return",
    "window_instances",
]
