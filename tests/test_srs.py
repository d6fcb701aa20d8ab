"""SRS cache: development SRS, imports pinned or not, and the dev-SRS guard they feed."""

from __future__ import annotations

import json
from pathlib import Path

import ezkl
import pytest
from click.testing import CliRunner
from zkml_cli.main import cli

from zkml import dev_srs
from zkml.artifacts import Srs, sha256_file
from zkml.errors import SrsError, UnsafeSrsError
from zkml.evm.deploy import check_srs_guard
from zkml.srs import cached_srs, expected_size, generate_dev_srs, import_srs, list_cached, read_logrows, resolve_srs, srs_dir

SEPOLIA = 11155111
ANVIL = 31337


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, so imports never leak into the session cache other tests resolve from."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ZKML_CACHE_DIR", str(folder))
    return folder


def foreign_srs(folder: Path, logrows: int, name: str = "foreign.srs") -> Path:
    """A valid SRS file zkml did not make: the stand-in for a file from elsewhere (e.g. a ceremony).

    ezkl's own gen_srs, outside zkml, so it is in no record of this cache. It is
    of course no safer than a development SRS; that is exactly why importing it
    unpinned must count as unsafe.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ezkl.gen_srs(str(path), logrows)
    return path


def test_dev_srs_is_generated_once_and_marked_unsafe() -> None:
    first = generate_dev_srs(6)
    assert first.provenance == "dev-unsafe" and first.unsafe and not first.pinned
    assert first.path.stat().st_size == expected_size(6)
    mtime = first.path.stat().st_mtime_ns
    again = generate_dev_srs(6)
    assert again.sha256 == first.sha256 and again.path.stat().st_mtime_ns == mtime
    assert any(s.logrows == 6 for s in list_cached())
    record = json.loads((srs_dir() / "dev_digests.json").read_text())
    assert record["digests"][first.sha256] == 6


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


def test_import_checks_the_hash(cache: Path, tmp_path: Path) -> None:
    source = foreign_srs(tmp_path, 7)
    with pytest.raises(SrsError, match="expected 00"):
        import_srs(source, sha256="00" * 32)
    imported = import_srs(source, sha256=sha256_file(source).upper())
    assert imported.provenance == "imported" and imported.pinned and not imported.unsafe
    assert imported.unsafe_reason is None
    # An imported SRS is preferred over a development one, also for smaller circuits.
    assert resolve_srs(7).provenance == "imported"
    assert resolve_srs(5).logrows == 7
    check_srs_guard(SEPOLIA, srs_unsafe=imported.unsafe, allow_unsafe_srs=False, reason=imported.unsafe_reason)


def test_gen_srs_is_not_deterministic(tmp_path: Path) -> None:
    # Why zkml does not use ezkl's gen_srs for its development SRS: nothing could recognise its output.
    assert sha256_file(foreign_srs(tmp_path, 4, "a.srs")) != sha256_file(foreign_srs(tmp_path, 4, "b.srs"))


# sha256 of the development SRS for logrows 4: the same bytes on every machine (pure integer arithmetic).
DEV_SRS_4_SHA256 = "bf31869f30d88fcb1d6ea13207ef8b0531cce9eb24f5918272b1e147552f0a6f"


def test_dev_srs_is_the_same_in_every_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digests = []
    for name in ("one", "two"):
        monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / name))
        digests.append(generate_dev_srs(4).sha256)
    assert digests == [DEV_SRS_4_SHA256] * 2


def test_dev_srs_is_never_imported(cache: Path) -> None:
    dev = generate_dev_srs(5)
    for sha256 in (None, dev.sha256):  # pinning the dev digest does not make it a ceremony SRS
        with pytest.raises(SrsError, match="is a development SRS") as caught:
            import_srs(dev.path, sha256=sha256)
        assert "\n" not in caught.value.message and caught.value.hint
    assert cached_srs(5) == dev  # nothing was imported


def test_deleting_a_recorded_dev_srs_does_not_launder_it(cache: Path, tmp_path: Path) -> None:
    # A cache from before the public tau holds development files from ezkl's gen_srs (a random tau):
    # only the record of their digests recognises them, also once the file is gone.
    legacy = _legacy_dev_srs(tmp_path, 5)
    copy = tmp_path / "copy.srs"
    copy.write_bytes(legacy.path.read_bytes())
    legacy.path.unlink()
    legacy.path.with_suffix(".json").unlink()
    with pytest.raises(SrsError, match="is a development SRS"):
        import_srs(copy, sha256=sha256_file(copy))
    # The cached file and its meta also count when the record is gone.
    again = _legacy_dev_srs(tmp_path, 5)
    (srs_dir() / "dev_digests.json").unlink()
    with pytest.raises(SrsError, match="is a development SRS"):
        import_srs(again.path)


def _legacy_dev_srs(tmp_path: Path, logrows: int) -> Srs:
    """What an older zkml cached as its development SRS: an ezkl gen_srs file, its meta and its record."""
    source = foreign_srs(tmp_path, logrows, f"legacy{logrows}.srs")
    path = srs_dir() / f"kzg{logrows}.dev.srs"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source.read_bytes())
    digest = sha256_file(path)
    meta = {"logrows": logrows, "sha256": digest, "provenance": "dev-unsafe"}
    path.with_suffix(".json").write_text(json.dumps(meta))
    found = cached_srs(logrows)  # seen once: recorded
    assert found is not None and found.sha256 == digest
    return found


def test_unpinned_import_is_unsafe_and_guarded(cache: Path, tmp_path: Path) -> None:
    imported = import_srs(foreign_srs(tmp_path, 5))
    assert imported.provenance == "imported" and not imported.pinned
    assert imported.unsafe and imported.unsafe_reason == "unpinned"
    assert json.loads(imported.path.with_suffix(".json").read_text())["pinned"] is False
    assert cached_srs(5) == imported  # read back from the cache, still unpinned
    with pytest.raises(UnsafeSrsError, match="imported without a pinned sha256") as caught:
        check_srs_guard(SEPOLIA, srs_unsafe=imported.unsafe, allow_unsafe_srs=False, reason=imported.unsafe_reason)
    assert "unpinned" in caught.value.message and "--sha256" in (caught.value.hint or "")
    # Callers that pass only srs_unsafe are still refused, with the development wording.
    with pytest.raises(UnsafeSrsError, match="development SRS"):
        check_srs_guard(SEPOLIA, srs_unsafe=imported.unsafe, allow_unsafe_srs=False)
    check_srs_guard(ANVIL, srs_unsafe=imported.unsafe, allow_unsafe_srs=False, reason=imported.unsafe_reason)
    check_srs_guard(SEPOLIA, srs_unsafe=imported.unsafe, allow_unsafe_srs=True, reason=imported.unsafe_reason)


def test_dev_srs_from_another_cache_is_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Audit finding 7: a development SRS from another cache, pinned with --sha256 of itself, passed as
    # a ceremony SRS and cleared the chain guard. It is recognised by its public tau, at any logrows.
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "elsewhere"))
    made_elsewhere = [generate_dev_srs(k) for k in (4, 5)]
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "here"))
    for dev in made_elsewhere:
        renamed = tmp_path / f"ceremony{dev.logrows}.srs"
        renamed.write_bytes(dev.path.read_bytes())
        for sha256 in (None, dev.sha256):
            with pytest.raises(SrsError, match="is a development SRS") as caught:
                import_srs(renamed, sha256=sha256)
            assert "\n" not in caught.value.message
    assert list_cached() == []
    with pytest.raises(SrsError, match="no imported SRS"):
        resolve_srs(4, allow_dev=False)


def test_a_cached_import_of_a_dev_srs_is_refused_in_any_cache(cache: Path, tmp_path: Path) -> None:
    # A file placed in the cache by hand (or by an older zkml) as a pinned import still cannot pass.
    path = srs_dir() / "kzg4.imported.srs"
    path.parent.mkdir(parents=True)
    dev_srs.write_dev_srs(path, 4)
    meta = {"logrows": 4, "sha256": sha256_file(path), "provenance": "imported", "source": "x", "pinned": True}
    path.with_suffix(".json").write_text(json.dumps(meta))
    assert not (srs_dir() / "dev_digests.json").exists()
    with pytest.raises(SrsError, match="is a development SRS"):
        resolve_srs(4)


def test_dev_srs_guard_message() -> None:
    dev = generate_dev_srs(4)
    with pytest.raises(UnsafeSrsError, match="development SRS") as caught:
        check_srs_guard(SEPOLIA, srs_unsafe=dev.unsafe, allow_unsafe_srs=False, reason=dev.unsafe_reason)
    assert "unpinned" not in caught.value.message
    check_srs_guard(ANVIL, srs_unsafe=dev.unsafe, allow_unsafe_srs=False, reason=dev.unsafe_reason)


def test_srs_pinned_defaults_to_unsafe(tmp_path: Path) -> None:
    # Built without saying, an imported Srs counts as unpinned: the guard fails closed.
    assert Srs(tmp_path / "x.srs", "00" * 32, 4, "imported").unsafe
    assert not Srs(tmp_path / "x.srs", "00" * 32, 4, "imported", pinned=True).unsafe


def test_old_meta_without_pinned_reads_as_unpinned(cache: Path, tmp_path: Path) -> None:
    source = foreign_srs(tmp_path, 4)
    imported = import_srs(source, sha256=sha256_file(source))
    meta_path = imported.path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    del meta["pinned"]
    meta_path.write_text(json.dumps(meta))
    found = cached_srs(4)
    assert found is not None and found.unsafe_reason == "unpinned"


def test_reimport_without_hash_keeps_the_pin(cache: Path, tmp_path: Path) -> None:
    source = foreign_srs(tmp_path, 4)
    import_srs(source, sha256=sha256_file(source))
    assert import_srs(source).pinned
    # A different file without --sha256 is unpinned, whatever was there before.
    assert not import_srs(foreign_srs(tmp_path, 4, "other.srs")).pinned


def test_resolve_prefers_pinned_over_unpinned(cache: Path, tmp_path: Path) -> None:
    unpinned = import_srs(foreign_srs(tmp_path, 4, "small.srs"))
    assert resolve_srs(4) == unpinned  # an unpinned import still beats the development SRS
    large = foreign_srs(tmp_path, 5, "large.srs")
    pinned = import_srs(large, sha256=sha256_file(large))
    assert resolve_srs(4) == pinned


def test_dev_srs_imported_before_the_check_is_refused(cache: Path) -> None:
    # What an older zkml allowed: the dev file copied in as "imported", even pinned.
    dev = generate_dev_srs(4)
    imported_path = dev.path.with_name("kzg4.imported.srs")
    imported_path.write_bytes(dev.path.read_bytes())
    meta = {"logrows": 4, "sha256": dev.sha256, "provenance": "imported", "source": str(dev.path), "pinned": True}
    imported_path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(SrsError, match="is a development SRS"):
        resolve_srs(4)


def test_unreadable_record_fails_closed(cache: Path) -> None:
    dev = generate_dev_srs(4)
    (srs_dir() / "dev_digests.json").write_text("{not json")
    with pytest.raises(SrsError, match="record .* is unreadable"):
        import_srs(dev.path)


def test_cli_import_warns_and_list_shows_pinning(cache: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["srs", "import", str(foreign_srs(tmp_path, 4))], obj={})
    assert made.exit_code == 0, made.output
    assert "(unpinned)" in made.stdout
    assert "unpinned and will be treated as unsafe" in made.stderr
    source = foreign_srs(tmp_path, 5, "pinned.srs")
    pinned = runner.invoke(cli, ["srs", "import", str(source), "--sha256", sha256_file(source)], obj={})
    assert pinned.exit_code == 0 and "warning" not in pinned.stderr
    generate_dev_srs(6)
    listed = runner.invoke(cli, ["srs", "list"], obj={}).stdout.splitlines()
    assert any("logrows  4" in line and "unpinned" in line for line in listed)
    assert any("logrows  5" in line and " pinned" in line for line in listed)
    assert any("logrows  6" in line and "dev-unsafe" in line and "unsafe" in line for line in listed)
    refused = runner.invoke(cli, ["srs", "import", str(srs_dir() / "kzg6.dev.srs")], obj={})
    assert refused.exit_code == 2 and "is a development SRS" in refused.output


def test_keys_srs_reads_the_workspace_record(tmp_path: Path) -> None:
    from zkml.errors import ConfigError
    from zkml.srs import keys_srs
    from zkml.workspace import MANIFEST_NAME

    with pytest.raises(ConfigError, match="no readable manifest"):
        keys_srs(tmp_path)
    manifest = tmp_path / MANIFEST_NAME
    manifest.write_text(json.dumps({"version": 1, "stages": {}, "info": {}}))
    with pytest.raises(ConfigError, match="no keys yet"):
        keys_srs(tmp_path)
    for record, reason in (
        ({"path": "/x/kzg4.dev.srs", "provenance": "dev-unsafe"}, "dev-unsafe"),
        ({"path": "/x/kzg4.imported.srs", "provenance": "imported", "pinned": False}, "unpinned"),
        ({"path": "/x/kzg4.imported.srs", "provenance": "imported", "pinned": True}, None),
    ):
        manifest.write_text(json.dumps({"version": 1, "stages": {}, "info": {"srs": record}}))
        found = keys_srs(tmp_path)
        assert (found.path, found.unsafe_reason, found.unsafe) == (Path(record["path"]), reason, reason is not None)


def test_declared_provenance_wins_and_unknown_is_unsafe(tmp_path: Path) -> None:
    from zkml.srs import KeysSrs, declared_unsafe_reason

    pinned, dev = KeysSrs(tmp_path / "a", None), KeysSrs(tmp_path / "b", "unpinned")
    assert declared_unsafe_reason(None, declared_unsafe=None) == "dev-unsafe"  # nothing says where the keys came from
    assert declared_unsafe_reason(pinned, declared_unsafe=None) is None
    assert declared_unsafe_reason(dev, declared_unsafe=None) == "unpinned"
    assert declared_unsafe_reason(pinned, declared_unsafe=True) == "dev-unsafe"
    assert declared_unsafe_reason(dev, declared_unsafe=True) == "unpinned"
    assert declared_unsafe_reason(dev, declared_unsafe=False) is None
