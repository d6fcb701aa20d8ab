"""The development SRS from the public tau: halo2's points, checked with an independent curve library."""

from __future__ import annotations

import struct
from pathlib import Path

import ezkl
import pytest
from py_ecc.optimized_bn128 import FQ, G1, G2, Z1, add, curve_order, field_modulus, multiply, normalize

from zkml import dev_srs
from zkml.srs import expected_size

MONTGOMERY_INVERSE = pow(pow(2, 256, field_modulus), -1, field_modulus)


def _coordinates(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "little") * MONTGOMERY_INVERSE % field_modulus for i in range(0, len(data), 32)]


def _g1_points(data: bytes, start: int, count: int) -> list[tuple[int, int]]:
    return [tuple(_coordinates(data[start + 64 * i : start + 64 * (i + 1)])) for i in range(count)]  # type: ignore[misc]


def _affine(point: tuple[FQ, FQ, FQ]) -> tuple[int, int]:
    x, y = normalize(point)
    return int(x), int(y)


@pytest.fixture(scope="module")
def srs3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("dev-srs") / "kzg3.srs"
    dev_srs.write_dev_srs(path, 3)
    return path.read_bytes()


def test_layout_and_monomial_points(srs3: bytes) -> None:
    n = 8
    assert len(srs3) == expected_size(3) and struct.unpack("<I", srs3[:4]) == (3,)
    monomial = _g1_points(srs3, 4, n)
    for i, point in enumerate(monomial):
        assert point == _affine(multiply(G1, pow(dev_srs.DEV_TAU, i, curve_order)))


def test_lagrange_points_are_halo2s_basis(srs3: bytes) -> None:
    # Over halo2's domain (omega of order 8 from halo2curves' root of unity): the basis sums to G1 and
    # sum(omega^i * L_i) is tau * G1. A wrong omega or order fails the second.
    n = 8
    lagrange = _g1_points(srs3, 4 + 64 * n, n)
    omega = pow(dev_srs.ROOT_OF_UNITY, 1 << (dev_srs.TWO_ADICITY - 3), curve_order)
    assert pow(omega, n, curve_order) == 1 and pow(omega, n // 2, curve_order) != 1
    total, weighted = Z1, Z1
    for i, (x, y) in enumerate(lagrange):
        point = (FQ(x), FQ(y), FQ(1))
        total = add(total, point)
        weighted = add(weighted, multiply(point, pow(omega, i, curve_order)))
    assert _affine(total) == _affine(G1)
    assert _affine(weighted) == _affine(multiply(G1, dev_srs.DEV_TAU))


def test_g2_points(srs3: bytes) -> None:
    g2, tau_g2 = _coordinates(srs3[-256:-128]), _coordinates(srs3[-128:])
    for point, expected in ((g2, G2), (tau_g2, multiply(G2, dev_srs.DEV_TAU))):
        x, y = normalize(expected)
        assert point == [int(c) for c in (*x.coeffs, *y.coeffs)]


def test_root_of_unity_is_halo2s() -> None:
    # halo2curves' bn256 Fr::ROOT_OF_UNITY, as printed by halo2.
    assert dev_srs.ROOT_OF_UNITY == 0x03DDB9F5166D18B798865EA93DD31F743215CF6DD39329C8D34F1ED960C37C9C


def test_recognised_at_any_logrows_and_only_then(tmp_path: Path) -> None:
    for logrows in (1, 2, 5):
        path = tmp_path / f"dev{logrows}.srs"
        dev_srs.write_dev_srs(path, logrows)
        assert dev_srs.is_dev_srs(path)
    ceremony_like = tmp_path / "other.srs"
    ezkl.gen_srs(str(ceremony_like), 5)
    assert not dev_srs.is_dev_srs(ceremony_like)
    stub = tmp_path / "stub.srs"
    stub.write_bytes(b"\x05\x00\x00\x00")
    assert not dev_srs.is_dev_srs(stub)


def test_progress_reports_every_point(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    dev_srs.write_dev_srs(tmp_path / "p.srs", 4, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (32, 32)
