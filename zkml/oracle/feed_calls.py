"""Read-only calls to a feed and a feature source with the feed's hints (the plumbing under :mod:`zkml.oracle.feed`).

Kept apart from :mod:`zkml.oracle.feed` so that module stays readable in one sitting:
these are the error table with the feed's and the source's hints, one view call,
and the liveness check of a recorded deployment (its immutables read back).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from zkml.errors import ContractRevertError, OracleError
from zkml.evm.records import Deployment
from zkml.evm.reverts import ErrorTable
from zkml.evm.rpc import Connection, call, code_at
from zkml.evm.solc import CompiledContract
from zkml.oracle.calls import bind, decode_output
from zkml.oracle.compile import OracleContracts
from zkml.oracle.mirror import MAX_SKIPPED

if TYPE_CHECKING:
    from web3.contract import Contract

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")

# What to do about the feed's and the source's errors (the oracle's NotOwner hint names the oracle).
FEED_HINTS = {
    "NotOwner": "only the feed's owner pushes rounds: send from the account that deployed it (ZKML_PRIVATE_KEY)",
    "NoDataPresent": "the feed has no such round yet: push prices first (`zkml feed push`)",
    "AnswerOutOfRange": "a feed answer is a positive int192 (a price)",
    "InvalidParameter": "fix the constructor arguments",
    "NoEpochs": "ask for at least one epoch",
    "EpochOutOfRange": "an epoch is a round id E whose window E - window .. E lies inside the feed (E > window)",
    "BadRound": (
        f"an epoch's own round must exist, be complete and have a positive answer; its window skips at most {MAX_SKIPPED} bad rounds"
    ),
}


def feed_errors(contracts: OracleContracts) -> ErrorTable:
    """The contracts' error table with the feed's and the source's hints."""
    return dataclasses.replace(contracts.errors, hints={**contracts.errors.hints, **FEED_HINTS})


def feed_view(
    conn: Connection,
    contracts: OracleContracts,
    compiled: CompiledContract,
    address: str,
    fn: str,
    *args: object,
    doing: str,
    bound: Contract | None = None,
) -> Any:
    """:func:`zkml.oracle.calls.view` with the feed's hints; ``bound`` reuses a :func:`bind` result (it costs milliseconds)."""
    contract = bound if bound is not None else bind(conn, address, compiled)
    raw = call(conn, contract.address, contract.encode_abi(fn, args=list(args)), doing, errors=feed_errors(contracts))
    return decode_output(compiled, fn, raw)


def pinned(contracts: OracleContracts, compiled: CompiledContract, getters: Sequence[str], pins: tuple[Any, ...]) -> Callable[..., bool]:
    """A liveness check: the contract at the recorded address reads back exactly ``pins``."""

    def is_live(conn: Connection, deployment: Deployment) -> bool:
        if not code_at(conn, deployment.address):
            return False
        try:
            found = tuple(
                feed_view(conn, contracts, compiled, deployment.address, g, doing="reading a recorded deployment")[0] for g in getters
            )
        except (ContractRevertError, OracleError):  # another contract at that address now (chain reset), or an older source
            return False
        # Addresses compare case-insensitively (checksums); every other pin exactly.
        return tuple(v.lower() if isinstance(v, str) and _ADDRESS.fullmatch(v) else v for v in found) == pins

    return is_live


__all__ = ["FEED_HINTS", "feed_errors", "feed_view", "pinned"]
