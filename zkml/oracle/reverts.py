"""What the oracle's and the vault's custom errors mean to a user, and which exception each is.

The decoding itself is :class:`zkml.evm.reverts.ErrorTable`'s; this module only
adds the oracle's knowledge: a hint per error, and the errors callers tell apart
by type (a replay, a stale read, a rejected proof).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zkml.errors import ContractRevertError, OracleRevertError, ReplayError, StalePredictionError, VerificationFailedError
from zkml.evm.reverts import ErrorTable

# What to do about each contract error: the hint of the OracleRevertError.
HINTS = {
    "UnknownModel": "register the model first (`zkml oracle register`)",
    "ModelInactive": "the model is retired; publish under (and pin consumers to) a new model id",
    "ModelAlreadyRegistered": "a model id binds one verifier forever; register the new version under a new id",
    "VerificationFailed": "the verifier rejected the proof: forged, altered, or made by another model",
    "WrongInstanceCount": "the proof does not have this model's instance layout; is it from another circuit?",
    "InstanceOutOfField": "every public instance must be below the BN254 scalar field modulus",
    "Replay": "a prediction for this model and input is already stored; read it with `zkml oracle read`",
    "Stale": "publish a fresh proof, or have the owner raise the model's maxAge",
    "NoPrediction": "nothing was published for this model/input yet (`zkml oracle publish`)",
    "NotOwner": "send from the oracle owner's account (ZKML_PRIVATE_KEY)",
    "VkaRequired": "this model uses a reusable verifier: publish with its VKA",
    "VkaMismatch": "the VKA does not match the digest pinned at registration",
    "WrongModel": "the consumer is pinned to another model id",
    "AlreadyApplied": "the consumer already acted on this prediction; publish a new one",
    "InvalidModelConfig": "fix the registration parameters",
}

# The errors callers catch by type; every other one is a plain OracleRevertError.
ERROR_CLASSES: dict[str, type[ContractRevertError]] = {
    "Replay": ReplayError,
    "Stale": StalePredictionError,
    "VerificationFailed": VerificationFailedError,
}


def oracle_errors(abis: Iterable[Iterable[Mapping[str, Any]]]) -> ErrorTable:
    """The error table of the oracle and its consumers, from their ABIs."""
    return ErrorTable.from_abis(abis, classes=ERROR_CLASSES, default=OracleRevertError, hints=HINTS)


__all__ = ["ERROR_CLASSES", "HINTS", "oracle_errors"]
