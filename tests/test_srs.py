from __future__ import annotations

from pathlib import Path

import pytest

from zkml.errors import SrsError
from zkml.srs import expected_size, generate_dev_srs, import_srs, list_cached, read_logrows, resolve_srs


def test_dev_srs_is_generated_once_and_marked_unsafe() -> None:
    first = generate_dev_srs(6)
    assert first.provenance == "dev-unsafe" and first.unsafe
    assert first.path.stat().st_size == expected_size(6)
    mtime = first.path.stat().st_mtime_ns
    again = generate_dev_srs(6)
    assert again.sha256 == first.sha256 and again.path.stat().st_mtime_ns == mtime
    assert any(s.logrows == 6 for s in list_cached())


def test_truncated_srs_is_refused(tmp_path: Path) -> None:
    good = generate_dev_srs(6)
    bad = tmp_path / "bad.srs"
    bad.write_bytes(good.path.read_bytes()[:1000])
    with pytest.raises(SrsError, match="corrupt"):
        read_logrows(bad)
    empty = tmp_path / "empty.srs"
    empty.write_bytes(b"")
    with pytest.raises(SrsError, match="empty or truncated"):
        read_logrows(empty)


def test_import_checks_the_hash(tmp_path: Path) -> None:
    source = generate_dev_srs(7).path
    with pytest.raises(SrsError, match="expected 00"):
        import_srs(source, sha256="00" * 32)
    from zkml.artifacts import sha256_file

    imported = import_srs(source, sha256=sha256_file(source))
    assert imported.provenance == "imported" and not imported.unsafe
    # An imported SRS is preferred over a development one, also for smaller circuits.
    assert resolve_srs(7).provenance == "imported"
    assert resolve_srs(5).logrows == 7


def test_tampered_cache_is_detected() -> None:
    srs = generate_dev_srs(5)
    data = bytearray(srs.path.read_bytes())
    data[100] ^= 1
    srs.path.write_bytes(bytes(data))
    with pytest.raises(SrsError, match="changed since it was recorded"):
        generate_dev_srs(5)
    srs.path.unlink()


def test_dev_srs_can_be_refused() -> None:
    with pytest.raises(SrsError, match="development SRS is not allowed"):
        resolve_srs(20, allow_dev=False)
