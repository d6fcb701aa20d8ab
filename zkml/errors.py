"""The one exception family of zkml.

Every failure a user can cause or fix is a :class:`ZkmlError`. Each area of the
flow has its own subclass so callers (and tests) can catch exactly what they
expect; some also subclass the builtin they refine (``ValueError``,
``FileNotFoundError``) so generic handlers keep working. Messages say what was
wrong and what to do about it; the CLI prints them as one line.
"""

from __future__ import annotations


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


class ChainError(ZkmlError):
    """An RPC endpoint, account or transaction failed."""


class OracleError(ZkmlError):
    """The verified-prediction oracle refused or failed an operation."""
