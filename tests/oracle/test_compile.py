"""Compiling the oracle contracts: sources shipped as package data, results cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.errors import OracleError
from zkml.oracle import compile as compile_mod


def test_sources_ship_inside_the_package() -> None:
    sources = compile_mod.contract_sources()
    assert sorted(sources) == ["FixedPoint.sol", "ForecastVault.sol", "IHalo2Verifier.sol", "VerifiedPredictionOracle.sol"]
    assert "contract VerifiedPredictionOracle" in sources["VerifiedPredictionOracle.sol"]
    assert (Path(compile_mod.__file__).parent / "contracts" / "ForecastVault.sol").is_file()


def test_a_folder_without_sources_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OracleError, match="no Solidity sources"):
        compile_mod.contract_sources(tmp_path)


def test_compiled_once_then_cached(monkeypatch: pytest.MonkeyPatch, zkml_cache: Path) -> None:
    first = compile_mod.compile_contracts()
    assert compile_mod.compile_contracts() is first  # in-process cache
    assert (zkml_cache / compile_mod.CACHE_FOLDER / f"{first.sources_sha256}.json").is_file()
    assert first.oracle.name == compile_mod.ORACLE_CONTRACT and first.consumer.name == compile_mod.CONSUMER_CONTRACT
    assert first.oracle.compiler.optimizer_runs == compile_mod.OPTIMIZER_RUNS
    # A new process finds the user cache: nothing is compiled again.
    monkeypatch.setattr(compile_mod, "_COMPILED", {})

    def no_compiler(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr("zkml.evm.solc.compile_standard_json", no_compiler)
    again = compile_mod.compile_contracts()
    assert again == first and again is not first


def test_error_table_covers_both_contracts() -> None:
    names = {name for name, _ in compile_mod.compile_contracts().errors.errors.values()}
    assert {"Replay", "Stale", "VerificationFailed", "NotOwner", "WrongModel", "AlreadyApplied", "InvalidParameter"} <= names
