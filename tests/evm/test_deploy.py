"""Deployment: records, reuse, refusals and an RPC that dies mid-deploy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import ANVIL_KEY_0
from zkml.errors import ChainError, ContractTooLargeError, InsufficientFundsError, OracleRevertError, RpcUnreachableError, UnsafeSrsError
from zkml.evm import rpc
from zkml.evm.deploy import Deployable, deploy_contract, deploy_verifier
from zkml.evm.records import DeploymentStore
from zkml.evm.reverts import ErrorTable, selector
from zkml.evm.verifier import EIP170_LIMIT
from zkml.workspace import Layout

from .bytecode import deploying, returning, reverting_with


def test_deploy_records_everything(conn, plain_verifier, tmp_path) -> None:
    d = deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True)
    assert not d.reused and d.chain_id == 31337 and d.gas_used > 1_000_000
    assert bytes(conn.w3.eth.get_code(d.address)) == plain_verifier.creation_code()[-plain_verifier.runtime_bytes :]
    entries = json.loads(Layout(tmp_path).deployments.read_text())["deployments"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["status"] == "mined" and entry["address"] == d.address and entry["tx_hash"] == d.tx_hash
    assert entry["vk_sha256"] == plain_verifier.vk_sha256
    assert entry["compiler"] == plain_verifier.compiler.as_dict()
    assert entry["block_number"] == d.block_number and entry["gas_used"] == d.gas_used
    print(f"plain verifier: {plain_verifier.runtime_bytes} runtime bytes, deploy gas {d.gas_used}")


def test_redeploy_reuses_address(conn, plain_verifier, tmp_path) -> None:
    first = deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True)
    block = conn.w3.eth.block_number
    again = deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True)
    assert again.reused and again.address == first.address and again.tx_hash == first.tx_hash
    assert conn.w3.eth.block_number == block  # nothing was sent


def test_recorded_address_without_code_deploys_again(conn, plain_verifier, tmp_path) -> None:
    record = DeploymentStore.of(tmp_path)
    first = deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True)
    entries = record.load()
    entries[0]["address"] = "0x" + "22" * 20  # as after an anvil restart: nothing there
    record.save(entries)
    again = deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True)
    assert not again.reused and again.address != entries[0]["address"]
    assert len(record.load()) == 1 and first.runtime_sha256 == again.runtime_sha256


def test_oversize_refused_before_sending(conn, plain_verifier, tmp_path, monkeypatch) -> None:
    import dataclasses

    big = dataclasses.replace(plain_verifier, runtime_bytes=EIP170_LIMIT + 1000)
    block = conn.w3.eth.block_number
    with pytest.raises(ContractTooLargeError, match="EIP-170"):
        deploy_verifier(conn, big, tmp_path, srs_unsafe=True)
    assert conn.w3.eth.block_number == block
    assert not Layout(tmp_path).deployments.exists()


def test_real_oversize_contract_is_refused_by_chain_too(conn) -> None:
    """Anvil enforces EIP-170 as mainnet does: the check mirrors a real limit."""
    from zkml.evm.rpc import resolve_sender, send_transaction

    # PUSH2 size, PUSH1 0, RETURN -> returns `size` zero bytes as runtime code.
    size = EIP170_LIMIT + 1
    init = bytes([0x61]) + size.to_bytes(2, "big") + bytes([0x60, 0x00, 0xF3])
    receipt = send_transaction(conn, resolve_sender(conn), {"data": "0x" + init.hex(), "gas": 10_000_000})
    assert receipt["status"] == 0 and receipt["contractAddress"] is None or not conn.w3.eth.get_code(receipt["contractAddress"])


def test_srs_guard_refuses_non_dev_chain(conn5, plain_verifier, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ZKML_PRIVATE_KEY", ANVIL_KEY_0)
    block = conn5.w3.eth.block_number
    with pytest.raises(UnsafeSrsError, match="chain 5"):
        deploy_verifier(conn5, plain_verifier, tmp_path, srs_unsafe=True)
    assert conn5.w3.eth.block_number == block
    allowed = deploy_verifier(conn5, plain_verifier, tmp_path, srs_unsafe=True, allow_unsafe_srs=True)
    assert allowed.chain_id == 5 and allowed.srs_unsafe
    # An imported (ceremony) SRS needs no override.
    assert deploy_verifier(conn5, plain_verifier, tmp_path / "x", srs_unsafe=False).chain_id == 5


def test_non_dev_chain_needs_a_key(conn5, plain_verifier, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ZKML_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("ZKML_KEYSTORE", raising=False)
    with pytest.raises(ChainError, match="ZKML_PRIVATE_KEY"):
        deploy_verifier(conn5, plain_verifier, tmp_path, srs_unsafe=False)


def test_insufficient_funds(conn5, plain_verifier, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ZKML_PRIVATE_KEY", "0x" + "42" * 32)  # a valid key with no ether
    with pytest.raises(InsufficientFundsError, match="wei"):
        deploy_verifier(conn5, plain_verifier, tmp_path, srs_unsafe=False)


def test_rpc_dies_mid_deploy_then_retry_completes(anvil, conn, plain_verifier, tmp_path) -> None:
    from web3 import HTTPProvider

    # The suite's only mock: an RPC failing between sending and the receipt cannot be
    # produced on demand with a real node, so this provider dies right after the send.
    class Flaky(HTTPProvider):
        dead = False

        def make_request(self, method: Any, params: Any) -> Any:
            if Flaky.dead:
                raise ConnectionError("connection reset by peer")
            response = super().make_request(method, params)
            if method in ("eth_sendTransaction", "eth_sendRawTransaction"):
                Flaky.dead = True
            return response

    flaky = rpc.connect(anvil.url, provider=Flaky(anvil.url))
    sender = conn.w3.eth.accounts[0]
    nonce_before = conn.w3.eth.get_transaction_count(sender)
    with pytest.raises(RpcUnreachableError, match="stopped answering"):
        deploy_verifier(flaky, plain_verifier, tmp_path, srs_unsafe=True)
    # The record survived intact and remembers the transaction that was sent.
    entries = json.loads(Layout(tmp_path).deployments.read_text())["deployments"]
    assert [e["status"] for e in entries] == ["pending"]
    pending_tx = entries[0]["tx_hash"]
    retried = deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True)
    assert retried.tx_hash == pending_tx  # resumed, not deployed a second time
    # Exactly one transaction left the account: the retry sent nothing new.
    assert conn.w3.eth.get_transaction_count(sender) == nonce_before + 1
    assert conn.w3.eth.get_code(retried.address)
    entries = json.loads(Layout(tmp_path).deployments.read_text())["deployments"]
    assert [e["status"] for e in entries] == ["mined"]


def test_unreadable_record_is_not_overwritten(conn, plain_verifier, tmp_path) -> None:
    Layout(tmp_path).deployments.write_text("{not json")
    with pytest.raises(ChainError, match="unreadable"):
        deploy_verifier(conn, plain_verifier, tmp_path, srs_unsafe=True)
    assert Layout(tmp_path).deployments.read_text() == "{not json"


# --------------------------------------------------------------------------- any compiled contract


def _contract(runtime: bytes, **kwargs: object) -> Deployable:
    from zkml.artifacts import sha256_bytes

    base: dict[str, object] = {
        "kind": "example",
        "name": "Answer",
        "creation_code": deploying(runtime),
        "runtime_sha256": sha256_bytes(runtime),
        "slot": {"name": "Answer"},
        "fields": {"model_id": "0x01"},
    }
    return Deployable(**{**base, **kwargs})  # type: ignore[arg-type]


def test_any_contract_is_recorded_and_reused(conn, tmp_path) -> None:
    contract = _contract(returning(b"\x2a" * 32))
    first = deploy_contract(conn, tmp_path, contract)
    assert not first.reused and (first.kind, first.name, first.model_id) == ("example", "Answer", "0x01")
    assert rpc.call(conn, first.address, "0x", "calling") == b"\x2a" * 32
    block = conn.w3.eth.block_number
    again = deploy_contract(conn, tmp_path, contract)
    assert again.reused and again.address == first.address and conn.w3.eth.block_number == block
    assert DeploymentStore.of(tmp_path).latest(conn.chain_id, "Answer") == first
    # New code in the same slot replaces the record; a failing liveness check redeploys.
    changed = deploy_contract(conn, tmp_path, _contract(returning(b"\x2b" * 32)))
    assert not changed.reused and changed.address != first.address
    assert [d.address for d in DeploymentStore.of(tmp_path).find(conn.chain_id, "Answer")] == [changed.address]
    forced = deploy_contract(conn, tmp_path, _contract(returning(b"\x2b" * 32)), is_live=lambda c, d: False)
    assert not forced.reused and forced.address != changed.address


def test_reverting_constructor_is_decoded_and_not_recorded(conn, tmp_path) -> None:
    abi = [{"type": "error", "name": "InvalidParameter", "inputs": [{"type": "string"}]}]
    from eth_abi import encode

    payload = selector("InvalidParameter", ["string"]) + encode(["string"], ["no contract at oracle"])
    table = ErrorTable.from_abis([abi], default=OracleRevertError)
    contract = _contract(b"", creation_code=reverting_with(payload), errors=table)
    with pytest.raises(OracleRevertError, match="no contract at oracle") as info:
        deploy_contract(conn, tmp_path, contract)
    assert info.value.error == "InvalidParameter"
    assert DeploymentStore.of(tmp_path).load() == []
