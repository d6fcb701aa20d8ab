"""Revert decoding from an ABI (pure: no chain, no compiler)."""

from __future__ import annotations

import pytest
from eth_abi import encode

from zkml.errors import ChainError, ContractRevertError, ReplayError
from zkml.evm.reverts import BARE_REVERT, ErrorTable, abi_type, builtin_errors, revert_payload, selector

ABI = [
    {"type": "function", "name": "f", "inputs": [], "outputs": []},
    {"type": "error", "name": "Replay", "inputs": [{"name": "id", "type": "bytes32"}]},
    {"type": "error", "name": "TooOld", "inputs": [{"type": "bytes32"}, {"type": "uint256"}, {"type": "uint256"}]},
    {
        "type": "error",
        "name": "BadPair",
        "inputs": [{"type": "tuple", "components": [{"type": "address"}, {"type": "int256"}]}, {"type": "uint8[]"}],
    },
]


def _payload(name: str, types: list[str], values: list[object]) -> str:
    return "0x" + (selector(name, types) + encode(types, values)).hex()


def _rpc_error(data: object, message: str = "execution reverted", code: int = 3) -> dict[str, object]:
    return {"code": code, "message": message, "data": data}


def test_selectors_and_types_come_from_the_abi() -> None:
    table = ErrorTable.from_abis([ABI])
    names = sorted(name for name, _ in table.errors.values())
    assert names == ["BadPair", "Error", "Panic", "Replay", "TooOld"]  # Solidity's own two always included
    assert selector("Error", ["string"]).hex() == "08c379a0" and selector("Panic", ["uint256"]).hex() == "4e487b71"
    assert abi_type(ABI[3]["inputs"][0]) == "(address,int256)"
    assert table.errors[selector("BadPair", ["(address,int256)", "uint8[]"])] == ("BadPair", ("(address,int256)", "uint8[]"))


def test_custom_error_becomes_the_mapped_class_with_its_hint() -> None:
    table = ErrorTable.from_abis([ABI], classes={"Replay": ReplayError}, hints={"Replay": "read it instead"})
    exc = table.from_rpc_error(_rpc_error(_payload("Replay", ["bytes32"], [b"\x07" * 32])), "submitting")
    assert isinstance(exc, ReplayError) and exc.error == "Replay" and exc.values == (b"\x07" * 32,)
    assert exc.hint == "read it instead" and str(exc).startswith("submitting reverted: Replay(0x0707")
    other = table.from_rpc_error(_rpc_error(_payload("TooOld", ["bytes32", "uint256", "uint256"], [b"\0" * 32, 9, 5])), "reading")
    assert type(other) is ContractRevertError and other.values[1:] == (9, 5) and other.hint is None


def test_nested_data_and_builtin_errors() -> None:
    table = builtin_errors()
    nested = {
        "code": -32603,
        "message": "internal",
        "data": {"message": "reverted", "data": _payload("Error", ["string"], ["VKA not registered"])},
    }
    exc = table.from_rpc_error(nested, "calling")
    assert isinstance(exc, ContractRevertError) and exc.error == "Error" and exc.values == ("VKA not registered",)
    panic = table.from_rpc_error(_rpc_error(_payload("Panic", ["uint256"], [0x11])), "calling")
    assert isinstance(panic, ContractRevertError) and panic.error == "Panic" and panic.values == (0x11,)


def test_bare_unknown_and_malformed_reverts() -> None:
    table = ErrorTable.from_abis([ABI])
    for bare in (_rpc_error("0x"), _rpc_error(None), {"code": -32000, "message": "execution reverted"}):
        exc = table.from_rpc_error(bare, "calling")
        assert isinstance(exc, ContractRevertError) and exc.error == BARE_REVERT and exc.values == ()
    unknown = table.from_rpc_error(_rpc_error("0xdeadbeef" + "00" * 32), "calling")
    assert isinstance(unknown, ContractRevertError) and unknown.error == "0xdeadbeef"
    # A known selector with arguments that do not decode still names the error.
    truncated = table.from_rpc_error(_rpc_error("0x" + selector("Replay", ["bytes32"]).hex() + "00"), "calling")
    assert isinstance(truncated, ContractRevertError) and truncated.error == "Replay" and truncated.values == ()


def test_an_error_that_is_not_a_revert_stays_a_chain_error() -> None:
    exc = ErrorTable.from_abis([ABI]).from_rpc_error({"code": -32005, "message": "rate limited"}, "reading the model")
    assert type(exc) is ChainError and "reading the model failed: rate limited" in str(exc)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"data": "0x1234"}, b"\x12\x34"),
        ({"data": {"data": "0xab"}}, b"\xab"),
        ({"data": "nothex"}, None),
        ("text", None),
        ({"data": "0xzz"}, None),
    ],
)
def test_revert_payload(error: object, expected: bytes | None) -> None:
    assert revert_payload(error) == expected
