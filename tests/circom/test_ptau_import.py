"""Importing a ceremony powers of tau, pinned by hash: what is refused, what is recorded, and what setups use.

The ceremony files are made here by snarkjs with a contribution of entropy (not a beacon), at
power 8 (about a second each). Every test runs in its own cache (``ZKML_CACHE_DIR``), so an
imported ptau never reaches the session's other circom tests, whose setups must stay on the
development ptau.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ANVIL_KEY_0
from zkml.artifacts import sha256_file
from zkml.circom import tools
from zkml.errors import SrsError, UnsafeSrsError
from zkml.evm.deploy import check_srs_guard

POWER = 8


def _snarkjs(*args: str | Path) -> None:
    tools.run("snarkjs", list(args), doing="making a test ptau", error=SrsError)


def _ceremony(folder: Path, power: int, *, prepared: bool, curve: str = "bn128") -> Path:
    """A ptau with one contribution of entropy (snarkjs adds its own randomness): what a ceremony file looks like."""
    folder.mkdir(parents=True, exist_ok=True)
    _snarkjs("powersoftau", "new", curve, str(power), folder / "0.ptau")
    _snarkjs("powersoftau", "contribute", folder / "0.ptau", folder / "1.ptau", "-n=test ceremony", "-e=some entropy")
    if not prepared:
        return folder / "1.ptau"
    _snarkjs("powersoftau", "prepare", "phase2", folder / "1.ptau", folder / "final.ptau")
    return folder / "final.ptau"


@pytest.fixture(scope="module")
def contributed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unprepared bn128 ptau of power 8 with one contributed (non-beacon) contribution."""
    return _ceremony(tmp_path_factory.mktemp("ceremony"), POWER, prepared=False)


@pytest.fixture(scope="module")
def dev_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zkml's development ptau (FFLONK-only file, power 8), made in a cache that is then thrown away, renamed."""
    from zkml.circom.ptau import dev_ptau

    other_cache = tmp_path_factory.mktemp("other-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZKML_CACHE_DIR", str(other_cache))
        made = dev_ptau(POWER, prepared=False)
    copy = tmp_path_factory.mktemp("downloads") / "powersOfTau28_hez_final_08.ptau"
    shutil.copyfile(made.path, copy)
    shutil.rmtree(other_cache)
    return copy


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ZKML_CACHE_DIR", str(folder))
    return folder


def test_a_contributed_ptau_is_read_from_its_own_bytes(contributed: Path) -> None:
    from zkml.circom.ptau import read_ptau

    info = read_ptau(contributed)
    assert (info.power, info.ceremony_power, info.prepared, info.has_lagrange_section) == (POWER, POWER, False, False)
    assert [c.name for c in info.contributions] == ["test ceremony"]
    assert info.contributions[0].beacon_hash is None and not info.dev_beacon


def test_a_pinned_import_is_cached_with_its_pin(contributed: Path, cache: Path) -> None:
    from zkml.circom.ptau import import_ptau, read_ptau, resolve_ptau

    digest = sha256_file(contributed)
    srs = import_ptau(contributed, sha256=digest.upper())
    assert (srs.provenance, srs.pinned, srs.unsafe_reason, srs.logrows) == ("imported", True, None, POWER)
    meta = json.loads(srs.path.with_suffix(".json").read_text())
    assert meta["source_sha256"] == digest and meta["sha256"] == srs.sha256 == sha256_file(srs.path)
    assert meta["prepared"] is False and meta["contributions"] == 1
    # Unprepared: cached with an empty section 12, which FFLONK's setup checks for; nothing else changed.
    cached = read_ptau(srs.path)
    assert cached.has_lagrange_section and not cached.prepared
    assert srs.path.read_bytes()[12:] == contributed.read_bytes()[12:] + struct.pack("<IQ", 12, 0)
    # FFLONK (powers only) takes it for any power up to its own; a larger circuit does not.
    assert resolve_ptau(POWER - 2, prepared=False) == srs
    assert import_ptau(contributed).pinned  # imported again without --sha256: the pin stays
    check_srs_guard(5, srs_unsafe=srs.unsafe, allow_unsafe_srs=False, reason=srs.unsafe_reason)  # a public chain takes it


def test_an_unpinned_import_is_unsafe_like_a_dev_one(contributed: Path, cache: Path) -> None:
    from zkml.circom.ptau import import_ptau, resolve_ptau

    srs = import_ptau(contributed)
    assert (srs.pinned, srs.unsafe_reason) == (False, "unpinned")
    assert resolve_ptau(POWER, prepared=False) == srs  # the user asked for it: still taken over the development ptau
    with pytest.raises(UnsafeSrsError, match="unpinned SRS"):
        check_srs_guard(5, srs_unsafe=srs.unsafe, allow_unsafe_srs=False, reason=srs.unsafe_reason)


def test_a_development_ptau_is_refused_from_its_bytes(dev_copy: Path, cache: Path) -> None:
    """Renamed, and made in a cache since deleted: only its contributions section says what it is."""
    from zkml.circom.ptau import DEV_BEACON, import_ptau, is_dev_ptau, ptau_dir, read_ptau

    assert not ptau_dir().exists()  # this cache never saw it
    assert read_ptau(dev_copy).contributions[0].beacon_hash == DEV_BEACON and is_dev_ptau(dev_copy)
    with pytest.raises(SrsError, match="is a development ptau"):
        import_ptau(dev_copy, sha256=sha256_file(dev_copy))
    assert not ptau_dir().exists() or not any(ptau_dir().iterdir())


def test_a_digest_mismatch_and_non_ptau_files_are_refused(contributed: Path, cache: Path, tmp_path: Path) -> None:
    from zkml.circom.ptau import import_ptau, ptau_dir

    with pytest.raises(SrsError, match="expected " + "ab" * 32):
        import_ptau(contributed, sha256="ab" * 32)
    not_ptau = tmp_path / "notes.ptau"
    not_ptau.write_bytes(b"r1cs" + bytes(64))
    with pytest.raises(SrsError, match="not a ptau file"):
        import_ptau(not_ptau)
    truncated = tmp_path / "truncated.ptau"
    truncated.write_bytes(contributed.read_bytes()[:5000])
    with pytest.raises(SrsError, match="truncated"):
        import_ptau(truncated)
    assert not ptau_dir().exists()


def test_a_ptau_on_another_curve_is_refused(tmp_path: Path, cache: Path) -> None:
    from zkml.circom.ptau import import_ptau

    _snarkjs("powersoftau", "new", "bls12-381", str(POWER), tmp_path / "bls.ptau")
    with pytest.raises(SrsError, match="not on bn128"):
        import_ptau(tmp_path / "bls.ptau")


def test_a_cached_import_that_changed_is_refused(contributed: Path, cache: Path) -> None:
    from zkml.circom.ptau import import_ptau, resolve_ptau

    srs = import_ptau(contributed, sha256=sha256_file(contributed))
    data = bytearray(srs.path.read_bytes())
    data[-100] ^= 1
    srs.path.write_bytes(bytes(data))
    with pytest.raises(SrsError, match="changed since it was imported"):
        resolve_ptau(POWER, prepared=False)


def test_the_cli_imports_and_lists_a_ptau(contributed: Path, cache: Path) -> None:
    from click.testing import CliRunner
    from zkml_cli.main import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["srs", "import-ptau", str(contributed), "--sha256", sha256_file(contributed)])
    assert result.exit_code == 0, result.output
    assert "power 8 (powers only: FFLONK only)" in result.output and "(pinned)" in result.output
    listed = runner.invoke(cli, ["srs", "list"])
    assert listed.exit_code == 0 and "imported" in listed.output and "pinned" in listed.output
    refused = runner.invoke(cli, ["srs", "import-ptau", str(contributed), "--sha256", "00"])
    assert refused.exit_code != 0 and "expected 00" in refused.output


@pytest.mark.slow
def test_groth16_keys_on_an_imported_ptau_deploy_to_a_public_chain(
    tmp_path_factory: pytest.TempPathFactory, tie_circuit: Any, conn5: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prepared ceremony ptau of power 9 serves a circuit of power 8; the keys pass the guard on chain id 5."""
    from zkml.circom.build import setup_groth16
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.prove import prove, to_field, verify
    from zkml.circom.ptau import import_ptau, power_for

    folder = tmp_path_factory.mktemp("g16-imported")
    monkeypatch.setenv("ZKML_CACHE_DIR", str(folder / "cache"))
    ceremony = _ceremony(folder / "ceremony", POWER + 1, prepared=True)
    imported = import_ptau(ceremony, sha256=sha256_file(ceremony))
    assert power_for(tie_circuit.constraints, tie_circuit.public_signals) == POWER < imported.logrows

    circuit = _copy_circuit(tie_circuit, folder / "circuit")
    keys = setup_groth16(circuit)
    assert keys.ptau == imported and keys.ptau.unsafe_reason is None
    record = json.loads((circuit.folder / "keys.json").read_text())
    assert record["ptau"]["provenance"] == "imported" and record["ptau"]["pinned"] is True
    assert record["unsafe_reason"] is None and record["phase2"].startswith("one contribution")
    prove(circuit, keys, [to_field(3)], circuit.folder / "proof")
    assert verify(keys, circuit.folder / "proof")

    contracts = compile_contracts(keys, circuit.public_signals, folder / "evm")
    monkeypatch.setenv("ZKML_PRIVATE_KEY", ANVIL_KEY_0)  # a non-development chain sends from a configured key
    deployment = deploy(conn5, contracts, keys, folder / "deployments")  # chain 5: not a development chain
    assert conn5.chain_id == 5 and conn5.w3.eth.get_code(deployment.adapter.address)


def _copy_circuit(circuit: Any, folder: Path) -> Any:
    """The session's compiled circuit in a folder of its own (its keys are written beside it)."""
    from dataclasses import replace

    shutil.copytree(circuit.folder, folder)
    for stale in folder.glob("*.zkey"):
        stale.unlink()
    return replace(circuit, folder=folder)


def test_a_larger_cached_development_ptau_serves_a_smaller_setup(dev_copy: Path, cache: Path) -> None:
    """A prepared 2^13 takes minutes in JS: a cached 2^15 serves it (snarkjs reads the powers it needs)."""
    from zkml.circom.ptau import _paths, cached_dev_ptau, ptau_dir, record_dev_ptau, resolve_ptau

    ptau_dir().mkdir(parents=True)
    for power, prepared in ((12, False), (15, True)):
        path, meta = _paths(power, prepared)
        shutil.copy(dev_copy, path)
        record_dev_ptau(meta, power, sha256_file(path), prepared)
    assert cached_dev_ptau(16) is None
    assert cached_dev_ptau(13).logrows == 15  # type: ignore[union-attr]
    assert cached_dev_ptau(11, prepared=False).logrows == 12  # type: ignore[union-attr]  # FFLONK: the smallest, either kind
    served = resolve_ptau(13)
    assert (served.logrows, served.provenance, served.unsafe) == (15, "dev-unsafe", True)
