"""Compiling the oracle contracts: sources shipped as package data, results cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.errors import OracleError
from zkml.oracle import compile as compile_mod


def test_sources_ship_inside_the_package() -> None:
    sources = compile_mod.contract_sources()
    assert sorted(sources) == [
        "AggregatorV3Interface.sol",
        "FixedPoint.sol",
        "ForecastVault.sol",
        "IFeatureSource.sol",
        "IHalo2Verifier.sol",
        "PushFeed.sol",
        "ReturnsFeatureSource.sol",
        "VerifiedPredictionOracle.sol",
    ]
    assert "contract VerifiedPredictionOracle" in sources["VerifiedPredictionOracle.sol"]
    assert "contract ReturnsFeatureSource is IFeatureSource" in sources["ReturnsFeatureSource.sol"]
    assert (Path(compile_mod.__file__).parent / "contracts" / "ForecastVault.sol").is_file()


def test_a_folder_without_sources_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OracleError, match="no Solidity sources"):
        compile_mod.contract_sources(tmp_path)


def test_compiled_once_then_cached(monkeypatch: pytest.MonkeyPatch, zkml_cache: Path) -> None:
    first = compile_mod.compile_contracts()
    assert compile_mod.compile_contracts() is first  # in-process cache
    assert (zkml_cache / compile_mod.CACHE_FOLDER / f"{first.sources_sha256}.json").is_file()
    assert first.oracle.name == compile_mod.ORACLE_CONTRACT and first.consumer.name == compile_mod.CONSUMER_CONTRACT
    assert first.feed.name == compile_mod.FEED_CONTRACT and first.source.name == compile_mod.SOURCE_CONTRACT
    assert first.oracle.compiler.optimizer_runs == compile_mod.OPTIMIZER_RUNS
    # A new process finds the user cache: nothing is compiled again.
    monkeypatch.setattr(compile_mod, "_COMPILED", {})

    def no_compiler(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr("zkml.evm.solc.compile_standard_json", no_compiler)
    again = compile_mod.compile_contracts()
    assert again == first and again is not first


def test_error_table_covers_every_contract() -> None:
    names = {name for name, _ in compile_mod.compile_contracts().errors.errors.values()}
    oracle = {"Replay", "Stale", "VerificationFailed", "NotOwner", "VerifierCodeMismatch", "InputNotAttested", "InputOutOfRange"}
    vault = {"WrongModel", "NotNewer", "CooldownActive", "InvalidParameter"}
    feeds = {"NoDataPresent", "AnswerOutOfRange", "BadRound", "EpochOutOfRange", "NoEpochs"}
    assert oracle | vault | feeds <= names
    assert "AlreadyApplied" not in names  # the old vault's one-id memory is gone


def test_registry_reads_the_model_config_struct_in_its_order() -> None:
    import re

    from zkml.oracle.registry import CONFIG_FIELDS

    abi = compile_mod.compile_contracts().oracle.abi
    register = next(item for item in abi if item.get("name") == "registerModel")
    names = [c["name"] for c in register["inputs"][1]["components"]]
    assert [re.sub(r"(?<!^)([A-Z])", r"_\1", n).lower() for n in names] == list(CONFIG_FIELDS)
