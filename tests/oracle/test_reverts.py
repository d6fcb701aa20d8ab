"""The oracle's error table: each contract error becomes the right exception with its hint (pure)."""

from __future__ import annotations

from eth_abi import encode

from zkml.errors import OracleError, OracleRevertError, ReplayError, StalePredictionError, VerificationFailedError
from zkml.evm.reverts import selector
from zkml.oracle.reverts import HINTS, oracle_errors

ABI = [
    {"type": "error", "name": name, "inputs": [{"type": t} for t in types]}
    for name, types in {
        "Replay": ["bytes32"],
        "Stale": ["bytes32", "uint256", "uint256"],
        "VerificationFailed": ["bytes32"],
        "NotOwner": ["address"],
        "FeltOutOfField": ["uint256"],
    }.items()
]


def _revert(name: str, types: list[str], values: list[object]) -> dict[str, object]:
    return {"code": 3, "message": "execution reverted", "data": "0x" + (selector(name, types) + encode(types, values)).hex()}


def test_errors_callers_tell_apart_by_type() -> None:
    table = oracle_errors([ABI])
    pid = b"\x01" * 32
    replay = table.from_rpc_error(_revert("Replay", ["bytes32"], [pid]), "submitting the proof")
    assert isinstance(replay, ReplayError) and replay.values == (pid,) and replay.hint == HINTS["Replay"]
    stale = table.from_rpc_error(_revert("Stale", ["bytes32", "uint256", "uint256"], [pid, 700, 600]), "reading")
    assert isinstance(stale, StalePredictionError) and stale.values[1:] == (700, 600)
    failed = table.from_rpc_error(_revert("VerificationFailed", ["bytes32"], [pid]), "submitting")
    assert isinstance(failed, VerificationFailedError) and "forged" in str(failed)


def test_every_other_error_is_an_oracle_revert() -> None:
    table = oracle_errors([ABI])
    owner = table.from_rpc_error(_revert("NotOwner", ["address"], ["0x" + "12" * 20]), "registering")
    assert type(owner) is OracleRevertError and isinstance(owner, OracleError) and owner.hint == HINTS["NotOwner"]
    unhinted = table.from_rpc_error(_revert("FeltOutOfField", ["uint256"], [5]), "decoding")
    assert type(unhinted) is OracleRevertError and unhinted.hint is None and unhinted.values == (5,)
    bare = table.from_rpc_error({"code": 3, "message": "execution reverted"}, "calling")
    assert isinstance(bare, OracleRevertError)


def test_issue_11_refusals_say_what_to_do() -> None:
    for name in ("InputNotAttested", "InputOutOfRange", "VerifierCodeMismatch", "AttestationRequired", "NotAttested", "EpochTooOld",
                 "StaleData", "NotNewer", "CooldownActive", "Stale", "Replay"):  # fmt: skip
        assert HINTS.get(name), name
    assert "zkml oracle attest" in HINTS["InputNotAttested"] and "new model id" in HINTS["VerifierCodeMismatch"]
    table = oracle_errors([[{"type": "error", "name": "InputNotAttested", "inputs": [{"type": "uint256"}] * 4}]])
    refused = table.from_rpc_error(_revert("InputNotAttested", ["uint256"] * 4, [48, 3, 5, 7]), "submitting the proof")
    assert type(refused) is OracleRevertError and refused.error == "InputNotAttested" and refused.values == (48, 3, 5, 7)
    # The hint puts the arguments in words first (issue 22: the epoch is named), then what to do.
    assert refused.hint == f"input feature 3 is 5, the source's at epoch 48 is 7; {HINTS['InputNotAttested']}"
