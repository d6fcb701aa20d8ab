"""Finer-grained errors of the EVM stage, all under the core ``EvmError``/``ChainError``."""

from __future__ import annotations

from zkml.errors import ChainError, EvmError


class SolidityCompileError(EvmError):
    """solc rejected the source; the message lists ``file:line:column: message``."""


class ContractTooLargeError(EvmError):
    """Runtime bytecode exceeds the EIP-170 limit of the target chain."""

    def __init__(self, message: str, *, size: int, limit: int, hint: str | None = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(message, hint=hint)


class RpcUnreachableError(ChainError, ConnectionError):
    """The RPC endpoint did not answer."""


class WrongChainError(ChainError):
    """The endpoint serves a different chain id than the caller expected."""


class AccountError(ChainError):
    """No usable account: missing key, unreadable keystore or wrong password."""


class InsufficientFundsError(ChainError):
    """The sending account cannot pay for the transaction."""


class UnsafeSrsError(ChainError):
    """Refused: the verifier's keys come from a development SRS and the chain is not a dev chain."""


class AnvilError(ChainError):
    """The local anvil chain could not be found, started or stopped."""
