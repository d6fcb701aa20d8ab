"""The one exception family of zkml.

Every failure a user can cause or fix is a :class:`ZkmlError`. Each area of the
flow has its own subclass so callers (and tests) can catch exactly what they
expect; some also subclass the builtin they refine (``ValueError``,
``FileNotFoundError``) so generic handlers keep working. Messages say what was
wrong and what to do about it; the CLI prints them as one line. Every exception
type zkml defines lives here, the EVM, oracle, proving and tuner ones included.
"""

from __future__ import annotations

from typing import Any


class ZkmlError(Exception):
    """Root of every error zkml raises on purpose.

    Attributes:
        hint: what the user can do about it (appended to the message).
        exit_code: the process exit code the CLI uses for this error.
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(ZkmlError, ValueError):
    """A zkml.toml, CLI option or config value is invalid."""


class InputDataError(ZkmlError, ValueError):
    """Input data has the wrong shape, is not finite, or is out of range."""


class IdempotencyConflictError(ConfigError):
    """An idempotency key was reused with a different request (``zkml serve``: 422)."""


class ExportError(ZkmlError):
    """A model could not be loaded, exported to ONNX or checked."""


class ModelNotFoundError(ExportError, FileNotFoundError):
    """A model file or factory does not exist."""


class UnsupportedOpsError(ExportError):
    """The graph uses operators the circuit compiler cannot handle."""

    def __init__(self, message: str, *, nodes: list[tuple[str, str]], hint: str | None = None) -> None:
        self.nodes = nodes
        super().__init__(message, hint=hint)


class CalibrationError(ZkmlError):
    """Settings generation or calibration failed."""


class CircuitError(ZkmlError):
    """Compiling the circuit or generating a witness failed."""


class SrsError(ZkmlError):
    """A structured reference string is missing, corrupt or too small."""


class KeysError(ZkmlError):
    """Proving/verifying keys could not be made or do not match the circuit."""


class ProofError(ZkmlError):
    """Proving failed, or a proof file is unreadable."""


class WorkspaceError(ZkmlError, OSError):
    """The build folder cannot be written, is full, or its manifest is corrupt."""


class EvmError(ZkmlError):
    """Solidity generation or compilation failed, or a contract is too large."""


class SolcNotFoundError(EvmError, FileNotFoundError):
    """No Solidity compiler is available."""


class SolidityCompileError(EvmError):
    """solc rejected the source; the message lists ``file:line:column: message``."""


class ContractTooLargeError(EvmError):
    """Runtime bytecode exceeds the EIP-170 limit of the target chain."""

    def __init__(self, message: str, *, size: int, limit: int, hint: str | None = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(message, hint=hint)


class ChainError(ZkmlError):
    """An RPC endpoint, account or transaction failed."""


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


class ContractRevertError(ChainError):
    """A contract reverted with one of its own custom errors (decoded by :mod:`zkml.evm.rpc`).

    Attributes:
        error: the Solidity error name (``Replay``, ``Stale``, ``VerificationFailed``, ...).
        values: the error's decoded arguments.
    """

    def __init__(self, error: str, values: tuple[Any, ...], doing: str, *, hint: str | None = None) -> None:
        self.error = error
        self.values = values
        shown = ", ".join("0x" + v.hex() if isinstance(v, bytes) else str(v) for v in values)
        super().__init__(f"{doing} reverted: {error}({shown})", hint=hint)


class OracleError(ZkmlError):
    """The verified-prediction oracle refused or failed an operation."""


class OracleRevertError(OracleError, ContractRevertError):
    """The oracle or its consumer reverted with one of its own custom errors."""


class ReplayError(OracleRevertError):
    """A prediction for this model and input is already stored."""


class StalePredictionError(OracleRevertError):
    """The stored prediction is older than the model's maxAge."""


class VerificationFailedError(OracleRevertError):
    """The model's verifier rejected the proof (revert or ``false``)."""


class VerifierMismatchError(OracleError):
    """The contract at a verifier address is not the workspace's compiled verifier."""


class AttestationError(OracleError):
    """An attested input cannot be built, or does not match what the chain attests."""


class DeviceError(ProofError):
    """The requested proving device is unavailable or its prover failed."""


class RayUnavailableError(ConfigError):
    """Ray is not installed, or the cluster cannot be reached."""


class BudgetUnreachableError(CalibrationError):
    """No configuration the tuner tried meets the accuracy budget.

    Attributes:
        result: the tuner's result (every candidate, the best found), when the search ran.
    """

    def __init__(self, message: str, *, hint: str | None = None, result: Any = None) -> None:
        self.result = result
        super().__init__(message, hint=hint)


class InsufficientMemoryError(KeysError, MemoryError):
    """Key setup (or proving) of a circuit would need more memory than the machine has available."""
