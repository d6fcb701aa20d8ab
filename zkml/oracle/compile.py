"""Compile the oracle, its consumer, the local feed and the feature source with zkml's own compiler path, cached.

The Solidity sources ship inside this package (``zkml/oracle/contracts/``, package
data), so an installed zkml finds them as a checkout does. solcjs takes seconds
per run, so the result is cached in the process and in the user cache, keyed by
the sources, the compiler and the optimizer settings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.artifacts import sha256_bytes
from zkml.errors import OracleError
from zkml.evm.reverts import ErrorTable
from zkml.evm.solc import CompiledContract
from zkml.oracle.reverts import oracle_errors
from zkml.workspace import cache_dir, write_json_atomic

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from zkml.evm.solc import Compiler

log = logging.getLogger(__name__)

ORACLE_CONTRACT = "VerifiedPredictionOracle"
CONSUMER_CONTRACT = "ForecastVault"
# The vault for one feed of a multi-feed model (ForecastVault.sol).
FEED_CONSUMER_CONTRACT = "FeedForecastVault"
FEED_CONTRACT = "PushFeed"
SOURCE_CONTRACT = "ReturnsFeatureSource"
# Every deployable contract of the package; the cache holds exactly these.
DEPLOYABLE = (ORACLE_CONTRACT, CONSUMER_CONTRACT, FEED_CONTRACT, SOURCE_CONTRACT, FEED_CONSUMER_CONTRACT)
# The oracle is called on every publication and read: optimise for runtime gas, not size.
OPTIMIZER_RUNS = 200
CACHE_FOLDER = "oracle"

_COMPILED: dict[str, OracleContracts] = {}


@dataclass(frozen=True)
class OracleContracts:
    """The compiled oracle, consumer, local feed and feature source (ABI + bytecode).

    Attributes:
        oracle: ``VerifiedPredictionOracle``.
        consumer: ``ForecastVault``.
        feed: ``PushFeed``, an owner-pushed AggregatorV3-compatible feed for local work.
        source: ``ReturnsFeatureSource``, a model input attested by an AggregatorV3 feed.
        feed_consumer: ``FeedForecastVault``, the consumer of one feed of a multi-feed model.
        sources_sha256: the cache key (sources, compiler, optimizer settings).
    """

    oracle: CompiledContract
    consumer: CompiledContract
    feed: CompiledContract
    source: CompiledContract
    feed_consumer: CompiledContract
    sources_sha256: str

    @cached_property
    def errors(self) -> ErrorTable:
        """All four contracts' custom errors, decoded to OracleRevertError and its subclasses."""
        return oracle_errors(c.abi_list for c in (self.oracle, self.consumer, self.feed, self.source, self.feed_consumer))


def contract_sources(folder: Path | None = None) -> dict[str, str]:
    """The Solidity sources (file name -> text): the package's own, or those in ``folder``.

    Raises:
        OracleError: there are none (a broken install).
    """
    root: Path | Traversable = Path(folder) if folder is not None else resources.files("zkml.oracle") / "contracts"
    files = sorted((item for item in root.iterdir() if item.name.endswith(".sol")), key=lambda item: item.name)
    if not files:
        raise OracleError(f"no Solidity sources in {root}", hint="reinstall zkml: the contracts ship as package data of zkml.oracle")
    return {item.name: item.read_text() for item in files}


def compile_contracts(compiler: Compiler | None = None, *, folder: Path | None = None) -> OracleContracts:
    """Compile the oracle and consumer with zkml's compiler path (native solc or solcjs).

    Args:
        compiler: a :class:`zkml.evm.solc.Compiler`; found with ``find_compiler`` when None.
        folder: compile the sources in this folder instead of the package's.

    Raises:
        SolcNotFoundError: no Solidity compiler is available.
        SolidityCompileError: the sources do not compile.
    """
    from zkml.evm.solc import compile_standard_json, find_compiler

    sources = contract_sources(folder)
    compiler = compiler or find_compiler()
    settings = {"sources": sources, "compiler": compiler.version, "kind": compiler.kind, "runs": OPTIMIZER_RUNS}
    key = sha256_bytes(json.dumps(settings, sort_keys=True).encode())
    if key in _COMPILED:
        return _COMPILED[key]
    cache = cache_dir() / CACHE_FOLDER / f"{key}.json"
    contracts = _read_cache(cache)
    if contracts is None:
        contracts = compile_standard_json(sources, optimizer_runs=OPTIMIZER_RUNS, compiler=compiler)
        _write_cache(cache, contracts)
    result = OracleContracts(
        oracle=contracts[ORACLE_CONTRACT],
        consumer=contracts[CONSUMER_CONTRACT],
        feed=contracts[FEED_CONTRACT],
        source=contracts[SOURCE_CONTRACT],
        feed_consumer=contracts[FEED_CONSUMER_CONTRACT],
        sources_sha256=key,
    )
    _COMPILED[key] = result
    return result


def _read_cache(path: Path) -> dict[str, CompiledContract] | None:
    try:
        data = json.loads(path.read_text())
        contracts = {name: CompiledContract.from_dict(name, item) for name, item in data.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return contracts if set(DEPLOYABLE) <= contracts.keys() else None


def _write_cache(path: Path, contracts: dict[str, CompiledContract]) -> None:
    try:
        write_json_atomic(path, {name: contracts[name].as_dict() for name in DEPLOYABLE})
    except OSError as exc:  # a read-only cache only costs a recompile next time
        log.debug("cannot cache compiled oracle contracts: %s", exc)


__all__ = [
    "CONSUMER_CONTRACT",
    "DEPLOYABLE",
    "FEED_CONSUMER_CONTRACT",
    "FEED_CONTRACT",
    "ORACLE_CONTRACT",
    "SOURCE_CONTRACT",
    "OracleContracts",
    "compile_contracts",
    "contract_sources",
]
