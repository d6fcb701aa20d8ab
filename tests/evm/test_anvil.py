"""The local anvil: started for a block, or detached across commands (`chain up/down`)."""

from __future__ import annotations

import pytest

from zkml.errors import AnvilError, ChainError
from zkml.evm import anvil as anvil_mod
from zkml.evm.context import RPC_URL_ENV, chain_url


def test_local_anvil_answers_then_stops() -> None:
    with anvil_mod.local_anvil(chain_id=4242) as node:
        assert anvil_mod.rpc_chain_id(node.url) == 4242 and node.chain_id == 4242
    assert anvil_mod.rpc_chain_id(node.url, timeout=0.5) is None


def test_rpc_chain_id_of_nothing_is_none() -> None:
    assert anvil_mod.rpc_chain_id(f"http://127.0.0.1:{anvil_mod.free_port()}", timeout=0.5) is None


def test_missing_explicit_binary(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("ZKML_ANVIL", str(tmp_path / "nope"))
    with pytest.raises(AnvilError, match="does not exist"):
        anvil_mod.find_anvil()


def test_chain_up_is_found_by_later_commands_and_stopped(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(RPC_URL_ENV, raising=False)
    assert anvil_mod.chain_status() is None and anvil_mod.chain_down() is None
    try:
        node, started = anvil_mod.chain_up()
        assert started and anvil_mod.chain_status() == node
        assert anvil_mod.chain_up() == (node, False)  # one chain, not two
        assert chain_url(None) == node.url
        assert chain_url("http://elsewhere:8545") == "http://elsewhere:8545"
    finally:
        stopped = anvil_mod.chain_down()
    assert stopped is not None and stopped.pid == node.pid
    assert anvil_mod.chain_status() is None
    with pytest.raises(ChainError, match="chain up"):
        chain_url(None)
