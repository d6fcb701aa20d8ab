"""Revert decoding: what a contract's revert payload means, from the contract's ABI.

``eth_call`` and ``eth_estimateGas`` report a revert as a JSON-RPC error whose
``data`` is the revert payload: a 4-byte selector (keccak256 of the error's
signature) followed by the ABI-encoded arguments. An :class:`ErrorTable`, built
from the ABIs of the contracts being called, maps selectors to error names and
argument types and turns a payload into a :class:`~zkml.errors.ContractRevertError`,
or into the subclass the caller maps that error name to, with the caller's hint.
Solidity's own ``Error(string)`` (``require`` messages) and ``Panic(uint256)`` are
always known. This is the only place zkml reads revert payloads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zkml.errors import ChainError, ContractRevertError

# Solidity's built-in errors: every contract can revert with them.
BUILTIN_ERRORS: tuple[dict[str, Any], ...] = (
    {"type": "error", "name": "Error", "inputs": [{"type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"type": "uint256"}]},
)
# The error name of a revert without a payload (``revert()``, a failed ``require`` without message).
BARE_REVERT = "revert"
# JSON-RPC error code of "execution reverted" (EIP-1474 and every major node).
REVERT_CODE = 3
_REVERT_WORDS = ("revert", "invalid opcode", "invalidfeopcode")


def abi_type(item: Mapping[str, Any]) -> str:
    """The canonical type of an ABI parameter (tuples spelled out), as signatures use it."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in item["components"]) + ")" + kind[5:]
    return kind


def selector(name: str, types: Sequence[str]) -> bytes:
    """The 4-byte selector of ``name(types...)``."""
    from eth_utils import keccak

    return bytes(keccak(text=f"{name}({','.join(types)})")[:4])


@dataclass(frozen=True)
class ErrorTable:
    """The custom errors of some contracts, and the exception each becomes.

    Attributes:
        errors: selector -> (error name, argument types).
        classes: error name -> the exception class to raise for it.
        default: the class for every other error of the table (and bare reverts).
        hints: error name -> what the user can do about it.
    """

    errors: Mapping[bytes, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    classes: Mapping[str, type[ContractRevertError]] = field(default_factory=dict)
    default: type[ContractRevertError] = ContractRevertError
    hints: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_abis(
        cls,
        abis: Iterable[Iterable[Mapping[str, Any]]] = (),
        *,
        classes: Mapping[str, type[ContractRevertError]] | None = None,
        default: type[ContractRevertError] = ContractRevertError,
        hints: Mapping[str, str] | None = None,
    ) -> ErrorTable:
        """Collect the ``error`` entries of the given ABIs (plus Solidity's built-in ones)."""
        errors: dict[bytes, tuple[str, tuple[str, ...]]] = {}
        for abi in (BUILTIN_ERRORS, *abis):
            for item in abi:
                if item.get("type") == "error":
                    types = tuple(abi_type(i) for i in item.get("inputs", []))
                    errors[selector(str(item["name"]), types)] = (str(item["name"]), types)
        return cls(errors, dict(classes or {}), default, dict(hints or {}))

    def decode(self, payload: bytes) -> tuple[str, tuple[Any, ...]] | None:
        """The error name and arguments of a revert payload, or None for a selector not in the table."""
        from eth_abi import decode

        known = self.errors.get(bytes(payload[:4]))
        if known is None:
            return None
        name, types = known
        try:
            values = tuple(decode(list(types), bytes(payload[4:])))
        except Exception:  # malformed arguments still name the error
            values = ()
        return name, values

    def exception(self, name: str, values: tuple[Any, ...], doing: str) -> ContractRevertError:
        """The exception for error ``name`` raised while ``doing`` something."""
        return self.classes.get(name, self.default)(name, values, doing, hint=self.hints.get(name))

    def from_rpc_error(self, error: object, doing: str) -> ChainError:
        """The exception for the JSON-RPC ``error`` object of an ``eth_call`` / ``eth_estimateGas``.

        A revert becomes a :class:`ContractRevertError` (or the class mapped to its
        error name); an unknown selector is named by its hex. Any other error (the
        node refused the request) is a plain :class:`ChainError`.
        """
        message = str(error.get("message", error)) if isinstance(error, Mapping) else str(error)
        payload = revert_payload(error)
        if payload is not None and len(payload) >= 4:
            decoded = self.decode(payload)
            if decoded is not None:
                return self.exception(*decoded, doing)
            return self.exception("0x" + payload[:4].hex(), (), doing)
        if payload is not None or _looks_like_revert(error, message):
            return self.exception(BARE_REVERT, (), doing)
        return ChainError(f"{doing} failed: {message}")


@functools.cache
def builtin_errors() -> ErrorTable:
    """The table of a contract without custom errors: ``Error(string)`` and ``Panic(uint256)`` only."""
    return ErrorTable.from_abis()


def revert_payload(error: object) -> bytes | None:
    """The revert data of a JSON-RPC error object (some nodes nest it one level), if any."""
    data = error.get("data") if isinstance(error, Mapping) else None
    if isinstance(data, Mapping):
        data = data.get("data")
    if not isinstance(data, str) or not data.startswith("0x"):
        return None
    try:
        return bytes.fromhex(data[2:])
    except ValueError:
        return None


def _looks_like_revert(error: object, message: str) -> bool:
    code = error.get("code") if isinstance(error, Mapping) else None
    return code == REVERT_CODE or any(word in message.lower() for word in _REVERT_WORDS)


__all__ = ["BARE_REVERT", "BUILTIN_ERRORS", "ErrorTable", "abi_type", "builtin_errors", "revert_payload", "selector"]
