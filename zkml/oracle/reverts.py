"""What the oracle's and the vault's custom errors mean to a user, and which exception each is.

The decoding itself is :class:`zkml.evm.reverts.ErrorTable`'s; this module only
adds the oracle's knowledge: a hint per error, and the errors callers tell apart
by type (a replay, a stale read, a rejected proof).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zkml.errors import ContractRevertError, OracleRevertError, ReplayError, StalePredictionError, VerificationFailedError
from zkml.evm.reverts import ErrorTable

# What to do about each contract error: the hint of the OracleRevertError.
HINTS = {
    "UnknownModel": "register the model first (`zkml oracle register`)",
    "ModelInactive": "the model is retired; publish under (and pin consumers to) a new model id",
    "ModelAlreadyRegistered": "a model id binds one verifier forever; register the new version under a new id",
    "VerifierCodeMismatch": "the code at the verifier address is not the code registered (or expected): it was swapped, "
    "or it is not the workspace's verifier; register the real verifier under a new model id",
    "VerificationFailed": "the verifier rejected the proof: forged, altered, or made by another model",
    "ParamsMismatch": "the proof was made with other weights than the ones pinned at registration; "
    "prove with the registered model's own circuit",
    "WrongInstanceCount": "the proof does not have this model's instance layout; is it from another circuit?",
    "InstanceOutOfField": "every public instance must be below the BN254 scalar field modulus",
    "InputOutOfRange": "an input is outside the model's calibrated range; the oracle refuses what the model was not fitted to",
    "InputNotAttested": "the proof's inputs are not the feature source's data at that epoch; prove on the feed's window "
    "(`zkml oracle attest`)",
    "AttestationRequired": "this model is attested: publish with the data epoch of each sample (--epoch)",
    "NotAttested": "this model is unattested: publish without epochs",
    "EpochTooOld": "prove on an epoch in that range (`zkml oracle attest` without --epoch proves the latest)",
    "EpochsNotIncreasing": "a batch's epochs must be strictly increasing",
    "WrongEpochCount": "give one epoch per sample of the batch",
    "StaleData": "the feed's data at that epoch is older than the model's maxAge; prove on a fresh round",
    "OutputOutOfRange": "an output does not fit the int128 the oracle stores",
    "Replay": "a prediction for this model and epoch (or input) is already stored; read it with `zkml oracle read`",
    "Stale": "the prediction expired (its expiry was fixed when it was stored); publish a proof on fresh data",
    "NoPrediction": "nothing was published for this model/epoch/input yet (`zkml oracle publish`)",
    "NotOwner": "send from the owner's account (ZKML_PRIVATE_KEY)",
    "VkaRequired": "this model uses a reusable verifier: publish with its VKA",
    "VkaMismatch": "the VKA does not match the digest pinned at registration",
    "WrongModel": "the consumer is pinned to another model id",
    "NotNewer": "the vault already acted on the feed's latest epoch; it acts once per new epoch of the feed",
    "NotLatestEpoch": "the vault acts only on the prediction for the feed's latest epoch: publish that epoch "
    "(`zkml oracle attest`), then trigger it again; an older window never moves it",
    "CooldownActive": "the vault rebalanced recently; try again after its cooldown",
    "InvalidModelConfig": "fix the registration parameters",
    "InvalidParameter": "the vault acts only on a registered, attested model; check the model id and the policy",
    "NoDataPresent": "the feed has no such round",
    "BadRound": "the epoch's own round is missing, incomplete or non-positive, or its window skips more than 16 bad rounds",
    "EpochOutOfRange": "the epoch has fewer than window + 1 rounds behind it in its feed phase",
    "CircuitBreaker": "no prediction is made on a window holding a jump over the source's maxChangeBps; "
    "epochs whose window no longer holds it work again",
    "MixedEpochs": "a multi-feed model proves every feed at one epoch: prove the batch on each feed's window at that epoch",
    "SampleFromAnotherFeed": "each sample of a multi-feed batch must be its own feed's window (sample k: the k-th registered feed)",
    "FeedsSwapped": "the batch's samples are in another order than the registered feeds; prove them in registration order",
    "UnknownFeed": "the model has no such feed: read with an index below its feed count, or one of its sources "
    "(`zkml oracle read --index k`)",
}

# The errors callers catch by type; every other one is a plain OracleRevertError.
ERROR_CLASSES: dict[str, type[ContractRevertError]] = {
    "Replay": ReplayError,
    "Stale": StalePredictionError,
    "VerificationFailed": VerificationFailedError,
}


def _epoch_too_old(epoch: int, latest: int, lag: int) -> str:
    where = "is past" if epoch > latest else f"is more than {lag} rounds behind"
    return f"epoch {epoch} {where} the feed's latest epoch {latest}: the oracle accepts epochs {max(latest - lag, 0)}..{latest} now"


# What each revert's arguments say, in words: the epoch (or round) first, then the range where the error knows it.
DETAILS: dict[str, Callable[..., str]] = {
    "EpochTooOld": _epoch_too_old,
    "EpochOutOfRange": lambda e: f"epoch {e} has fewer than window + 1 good rounds behind it in its feed phase (or is beyond uint80)",
    "BadRound": lambda r: f"round {r} of the feed is missing, incomplete or non-positive",
    "CircuitBreaker": lambda e, r: f"epoch {e} is refused by the circuit breaker: round {r} moved the price more than maxChangeBps",
    "StaleData": lambda e, data, expires: f"the data of epoch {e} (time {data}) expired at {expires}",
    "InputNotAttested": lambda e, f, proved, attested: f"input feature {f} is {proved}, the source's at epoch {e} is {attested}",
    "NotLatestEpoch": lambda e, latest: f"the newest stored prediction is for epoch {e}, not the feed's latest epoch {latest}",
    "NotNewer": lambda e, last: f"the vault already acted on epoch {last}, the feed's latest is epoch {e}",
    "ParamsMismatch": lambda model, pinned, proved: (
        f"the proof's param hashes commit to 0x{bytes(proved).hex()[:12]}…, the model pinned 0x{bytes(pinned).hex()[:12]}…"
    ),
    "BatchMismatch": lambda model, first: f"the batch from epoch {first} is not the one stored",
    "MixedEpochs": lambda k, e, first: f"sample {k} is at epoch {e}, the batch's first at epoch {first}",
    "SampleFromAnotherFeed": lambda k, j, e: f"sample {k} holds feed {j}'s window at epoch {e}, not feed {k}'s",
    "FeedsSwapped": lambda k, j, e: f"samples {k} and {j} hold each other's feed's window at epoch {e}",
}


@dataclass(frozen=True)
class OracleErrorTable(ErrorTable):
    """An :class:`ErrorTable` whose hints also say what the revert's arguments mean (the epoch, its range)."""

    def exception(self, name: str, values: tuple[Any, ...], doing: str) -> ContractRevertError:
        """The exception for ``name``; its hint starts with the arguments in words when they decoded."""
        exc = super().exception(name, values, doing)
        detail = DETAILS.get(name)
        if detail is None or not values:
            return exc
        try:
            words = detail(*values)
        except TypeError:  # another contract's error of the same name: keep the plain hint
            return exc
        hint = f"{words}; {exc.hint}" if exc.hint else words
        return type(exc)(name, values, doing, hint=hint)


def oracle_errors(abis: Iterable[Iterable[Mapping[str, Any]]]) -> ErrorTable:
    """The error table of the oracle and its consumers, from their ABIs."""
    return OracleErrorTable.from_abis(abis, classes=ERROR_CLASSES, default=OracleRevertError, hints=HINTS)


__all__ = ["DETAILS", "ERROR_CLASSES", "HINTS", "OracleErrorTable", "oracle_errors"]
