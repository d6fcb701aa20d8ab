"""Connections, accounts, and calls/transactions whose reverts are decoded, on the session anvil."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode

from tests.helpers import ANVIL_KEY_0
from zkml.errors import AccountError, ChainError, ContractRevertError, ReplayError, RpcUnreachableError, WrongChainError
from zkml.evm import rpc
from zkml.evm.anvil import free_port
from zkml.evm.reverts import BARE_REVERT, ErrorTable, selector

from .bytecode import deploying, returning, reverting_with

ABI = [{"type": "error", "name": "Replay", "inputs": [{"type": "bytes32"}]}]
REPLAY = selector("Replay", ["bytes32"]) + encode(["bytes32"], [b"\x05" * 32])


def _deploy(conn: rpc.Connection, runtime: bytes) -> str:
    receipt = rpc.transact(conn, rpc.resolve_sender(conn), deploying(runtime), "deploying a test contract")
    return str(receipt["contractAddress"])


def test_redact_url_and_dev_chains() -> None:
    assert rpc.redact_url("https://user:pw@eth.example/v2/SECRET?key=1") == "https://eth.example"
    assert rpc.is_dev_chain(31337) and rpc.is_dev_chain(1337) and not rpc.is_dev_chain(1)


def test_rpc_unreachable() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(RpcUnreachableError, match="unreachable") as info:
        rpc.connect(f"http://127.0.0.1:{port}/secret-api-key")
    assert "secret-api-key" not in str(info.value)


def test_wrong_chain_id(anvil) -> None:
    with pytest.raises(WrongChainError, match="31337, expected 1"):
        rpc.connect(anvil.url, expected_chain_id=1)


def test_dev_chain_uses_the_unlocked_account(conn) -> None:
    sender = rpc.resolve_sender(conn, env={})
    assert sender.address == conn.w3.eth.accounts[0] and sender.account is None


def test_non_dev_chain_needs_a_key(conn5) -> None:
    with pytest.raises(AccountError, match="ZKML_PRIVATE_KEY"):
        rpc.resolve_sender(conn5, env={})
    with pytest.raises(AccountError, match="not a valid private key") as info:
        rpc.resolve_sender(conn5, env={"ZKML_PRIVATE_KEY": "0x1234"})
    assert "1234" not in str(info.value)


def test_keystore_account(conn5, tmp_path, monkeypatch) -> None:
    from eth_account import Account

    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(ANVIL_KEY_0, "pw", iterations=2)))
    monkeypatch.delenv("ZKML_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("ZKML_KEYSTORE", str(keystore))
    monkeypatch.setenv("ZKML_KEYSTORE_PASSWORD", "pw")
    sender = rpc.resolve_sender(conn5)
    assert sender.address == Account.from_key(ANVIL_KEY_0).address
    assert ANVIL_KEY_0[2:] not in repr(sender)
    monkeypatch.setenv("ZKML_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(ChainError, match="cannot decrypt"):
        rpc.resolve_sender(conn5)


def test_call_and_estimate(conn) -> None:
    address = _deploy(conn, returning(b"\x2a" * 32))
    assert rpc.call(conn, address, "0x", "calling") == b"\x2a" * 32
    assert rpc.estimate_gas(conn, address, b"", "estimating") >= 21_000
    assert rpc.code_at(conn, address) == returning(b"\x2a" * 32)
    assert rpc.code_at(conn, "0x" + "11" * 20) == b""


def test_custom_error_is_decoded_by_call_estimate_and_transact(conn) -> None:
    address = _deploy(conn, reverting_with(REPLAY))
    table = ErrorTable.from_abis([ABI], classes={"Replay": ReplayError}, hints={"Replay": "read it"})
    with pytest.raises(ReplayError) as info:
        rpc.call(conn, address, "0x", "reading", errors=table)
    assert info.value.values == (b"\x05" * 32,) and info.value.hint == "read it"
    with pytest.raises(ReplayError):
        rpc.estimate_gas(conn, address, "0x", "estimating", errors=table)
    block = conn.w3.eth.block_number
    with pytest.raises(ReplayError):
        rpc.transact(conn, rpc.resolve_sender(conn), "0x", "submitting", to=address, errors=table)
    assert conn.w3.eth.block_number == block  # the dry run refused it: nothing was sent
    # Without the contract's ABI the revert is still a revert, named by its selector.
    with pytest.raises(ContractRevertError) as plain:
        rpc.call(conn, address, "0x", "reading")
    assert plain.value.error == "0x" + REPLAY[:4].hex()


def test_require_message_and_bare_revert(conn) -> None:
    message = selector("Error", ["string"]) + encode(["string"], ["VKA not registered"])
    with pytest.raises(ContractRevertError) as info:
        rpc.call(conn, _deploy(conn, reverting_with(message)), "0x", "calling the verifier")
    assert info.value.error == "Error" and info.value.values == ("VKA not registered",)
    with pytest.raises(ContractRevertError) as bare:
        rpc.call(conn, _deploy(conn, reverting_with(b"")), "0x", "calling the verifier")
    assert bare.value.error == BARE_REVERT


def test_reverting_constructor_is_decoded(conn) -> None:
    table = ErrorTable.from_abis([ABI])
    with pytest.raises(ContractRevertError) as info:
        rpc.transact(conn, rpc.resolve_sender(conn), reverting_with(REPLAY), "deploying", errors=table)
    assert info.value.error == "Replay"


def test_insufficient_funds(conn5, monkeypatch) -> None:
    from zkml.errors import InsufficientFundsError

    monkeypatch.setenv("ZKML_PRIVATE_KEY", "0x" + "42" * 32)  # a valid key with no ether
    with pytest.raises(InsufficientFundsError, match="wei"):
        rpc.transact(conn5, rpc.resolve_sender(conn5), deploying(returning(b"\x01")), "deploying")
