"""The development SRS: a KZG SRS from a public tau, the same bytes on every machine.

A development SRS lets a circuit be proved and verified with nothing downloaded.
Its toxic waste is known, so it must never back a deployment. ezkl's own
``gen_srs`` draws a fresh secret tau on every call, so a development SRS made in
another cache or on another machine could not be told from a ceremony one. This
one uses a tau that everyone knows (:data:`DEV_TAU`, the sha256 of
:data:`DEV_SEED`), which makes it recognisable from its bytes alone: its second
point is ``tau * G1`` for that tau, whatever its logrows (:func:`is_dev_srs`).
Everything is exact integer arithmetic, so the file for a logrows is
byte-identical wherever it is made.

The points are those of halo2's ``ParamsKZG::setup`` for the same tau:
``tau^i * G1`` for i < n, the Lagrange basis ``L_i(tau) * G1`` over halo2's
domain of size n, then ``G2`` and ``tau * G2``, each coordinate in Montgomery
form, little-endian (halo2's raw-bytes format, which ezkl reads).

Generation costs two fixed-base multiplications per row, done as a window
table over ``G1`` with batched affine additions (one field inversion per window
step for the whole batch): about 10 s for logrows 15 on one core. It runs once
per logrows per cache.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# BN254: the base field modulus and the group order (the scalar field).
FIELD = 0x30644E72E131A029B85045B68181585D97816A916871CA8D3C208C16D87CFD47
ORDER = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001
G1 = (1, 2)
# G2's generator and tau * G2 as (x.c0, x.c1, y.c0, y.c1); tests re-derive them with py_ecc.
G2 = (
    0x1800DEEF121F1E76426A00665E5C4479674322D4F75EDADD46DEBD5CD992F6ED,
    0x198E9393920D483A7260BFB731FB5D25F1AA493335A9E71297E485B7AEF312C2,
    0x12C85EA5DB8C6DEB4AAB71808DCB408FE3D1E7690C43D37B4CE6CC0166FA7DAA,
    0x090689D0585FF075EC9E99AD690C3395BC4B313370B38EF355ACDADCD122975B,
)
DEV_SEED = b"zkml development SRS, v1: this tau is public; an SRS made from it proves nothing"
DEV_TAU = int.from_bytes(hashlib.sha256(DEV_SEED).digest(), "big") % ORDER
DEV_TAU_G2 = (
    0x11D8E38782658DAABEF57A6FBD062F3074AA0F8DB19694DBAF9FED07CCDCAE8F,
    0x07771A057153C9A5FAA8BABD3ACEA9D133BDF2E80144E41B42F1D552205A9404,
    0x06F7CA509E178B322E309CA299CAC95D841984682D0851FFBA33B1C80ABF1AF5,
    0x0872FE14A3F24F6DA735FC25D9294C85B306CF9D9991D03E4357EDABEF6AA8A6,
)
# halo2curves' Fr: 2^28 divides ORDER - 1, and the root of unity of order 2^28 is 7^((ORDER-1) >> 28).
TWO_ADICITY = 28
ROOT_OF_UNITY = pow(7, (ORDER - 1) >> TWO_ADICITY, ORDER)

_MONTGOMERY = pow(2, 256, FIELD)
_WINDOW_BITS = 12
_WINDOWS = (ORDER.bit_length() + _WINDOW_BITS - 1) // _WINDOW_BITS
_CHUNK = 1 << 13

Point = tuple[int, int]
Progress = Callable[[int, int], None]


def _encode(*coordinates: int) -> bytes:
    return b"".join((c * _MONTGOMERY % FIELD).to_bytes(32, "little") for c in coordinates)


def _batch_inverse(values: Sequence[int], modulus: int = FIELD) -> list[int]:
    """Inverses of non-zero elements mod ``modulus`` with one exponentiation (Montgomery's trick)."""
    prefix = [0] * len(values)
    acc = 1
    for i, value in enumerate(values):
        prefix[i] = acc
        acc = acc * value % modulus
    inverse = pow(acc, -1, modulus)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = prefix[i] * inverse % modulus
        inverse = inverse * values[i] % modulus
    return out


def _add(p: Point | None, q: Point | None) -> Point | None:
    """Affine addition with every special case (None is the point at infinity)."""
    if p is None or q is None:
        return q if p is None else p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if (y1 + y2) % FIELD == 0:
            return None
        slope = 3 * x1 * x1 * pow(2 * y1, -1, FIELD) % FIELD
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, FIELD) % FIELD
    x3 = (slope * slope - x1 - x2) % FIELD
    return x3, (slope * (x1 - x3) - y1) % FIELD


def _multiply(point: Point, scalar: int) -> Point | None:
    """``scalar * point`` by double-and-add: slow, for single points."""
    result: Point | None = None
    addend: Point | None = point
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    return result


def _window_table() -> list[list[Point]]:
    """``table[j][d] = d * 2^(12 j) * G1`` for d >= 1 (``table[j][0]`` is unused): every multiple a window asks for."""
    bases = [G1]
    for _ in range(1, _WINDOWS):
        base: Point | None = bases[-1]
        for _ in range(_WINDOW_BITS):
            base = _add(base, base)
        assert base is not None  # G1 has prime order far above 2^254
        bases.append(base)
    tables = []
    for base in bases:
        double = _add(base, base)
        assert double is not None
        tables.append([G1, base, double])
    for _ in range(3, 1 << _WINDOW_BITS):
        # All windows advance together, sharing one inversion: d*B = (d-1)*B + B.
        previous = [t[-1] for t in tables]
        inverses = _batch_inverse([(b[0] - p[0]) % FIELD for b, p in zip(bases, previous, strict=True)])
        for table, (x2, y2), (x1, y1), inverse in zip(tables, bases, previous, inverses, strict=True):
            slope = (y2 - y1) * inverse % FIELD
            x3 = (slope * slope - x1 - x2) % FIELD
            table.append((x3, (slope * (x1 - x3) - y1) % FIELD))
    return tables


def _fixed_base(scalars: Sequence[int], tables: list[list[Point]]) -> list[Point]:
    """``s * G1`` for every scalar, one window at a time for the whole batch."""
    mask = (1 << _WINDOW_BITS) - 1
    acc: list[Point | None] = [None] * len(scalars)
    for j, table in enumerate(tables):
        shift = _WINDOW_BITS * j
        pending: list[tuple[int, Point, Point]] = []
        for i, scalar in enumerate(scalars):
            digit = (scalar >> shift) & mask
            current = acc[i]
            if not digit:
                continue
            term = table[digit]
            if current is None:
                acc[i] = term
            elif current[0] == term[0]:
                acc[i] = _add(current, term)  # doubling or cancellation: never for these scalars, but exact
            else:
                pending.append((i, current, term))
        inverses = _batch_inverse([(term[0] - current[0]) % FIELD for _, current, term in pending])
        for (i, (x1, y1), (x2, y2)), inverse in zip(pending, inverses, strict=True):
            slope = (y2 - y1) * inverse % FIELD
            x3 = (slope * slope - x1 - x2) % FIELD
            acc[i] = (x3, (slope * (x1 - x3) - y1) % FIELD)
    points = [point for point in acc if point is not None]
    if len(points) != len(acc):
        raise ValueError("a scalar of zero (mod the group order) has no affine point")
    return points


def dev_scalars(logrows: int, tau: int = DEV_TAU) -> tuple[list[int], list[int]]:
    """The scalars of the monomial and the Lagrange points: ``tau^i`` and ``L_i(tau)`` for i < 2^logrows."""
    n = 1 << logrows
    monomial = [1] * n
    for i in range(1, n):
        monomial[i] = monomial[i - 1] * tau % ORDER
    omega = pow(ROOT_OF_UNITY, 1 << (TWO_ADICITY - logrows), ORDER)
    # halo2: L_i(tau) = (tau^n - 1) / n * omega^i / (tau - omega^i).
    multiplier = (pow(tau, n, ORDER) - 1) * pow(n, -1, ORDER) % ORDER
    powers = [1] * n
    for i in range(1, n):
        powers[i] = powers[i - 1] * omega % ORDER
    denominators = [(tau - w) % ORDER for w in powers]
    inverses = _batch_inverse(denominators, ORDER)
    lagrange = [multiplier * w % ORDER * inv % ORDER for w, inv in zip(powers, inverses, strict=True)]
    return monomial, lagrange


def write_dev_srs(path: Path, logrows: int, *, progress: Progress | None = None) -> None:
    """Write the development SRS for ``logrows`` to ``path`` (the caller makes it atomic).

    Args:
        progress: called with (rows done, rows total) after each chunk of points.
    """
    monomial, lagrange = dev_scalars(logrows)
    scalars = monomial + lagrange
    tables = _window_table()
    with Path(path).open("wb") as out:
        out.write(struct.pack("<I", logrows))
        for start in range(0, len(scalars), _CHUNK):
            for x, y in _fixed_base(scalars[start : start + _CHUNK], tables):
                out.write(_encode(x, y))
            if progress is not None:
                progress(min(start + _CHUNK, len(scalars)), len(scalars))
        out.write(_encode(*G2))
        out.write(_encode(*DEV_TAU_G2))


def dev_marker() -> bytes:
    """The encoded ``tau * G1`` of the public tau: the second point of every development SRS."""
    point = _multiply(G1, DEV_TAU)
    assert point is not None
    return _encode(*point)


def is_dev_srs(path: Path) -> bool:
    """Whether the SRS file at ``path`` is built on the public development tau (any logrows).

    Its first monomial point is G1 in every SRS; the second is ``tau * G1``. A file too
    short to hold two points is not an SRS at all, which the size check reports.
    """
    with Path(path).open("rb") as handle:
        head = handle.read(4 + 2 * 64)
    return len(head) == 4 + 2 * 64 and head[4 + 64 :] == dev_marker()
