"""The chain context: explicit URL, then $ZKML_RPC_URL, then `zkml chain up`'s chain, then an embedded anvil."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from zkml.errors import ChainError
from zkml.evm import anvil as anvil_mod
from zkml.evm.context import RPC_URL_ENV, chain_context, chain_url, configured_url

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No $ZKML_RPC_URL and a cache with no `zkml chain up` chain."""
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(RPC_URL_ENV, raising=False)


def test_order_explicit_then_env_then_running_chain(no_chain: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_url() is None
    with pytest.raises(ChainError, match=rf"\${RPC_URL_ENV} is unset") as caught:
        chain_url()
    assert "zkml chain up" in (caught.value.hint or "")
    try:
        node, _ = anvil_mod.chain_up()
        assert chain_url() == node.url
        monkeypatch.setenv(RPC_URL_ENV, "http://from-env:8545")
        assert chain_url() == "http://from-env:8545"
        assert chain_url("http://explicit:8545") == "http://explicit:8545"
        monkeypatch.setenv(RPC_URL_ENV, "  ")  # blank counts as unset
        assert chain_url() == node.url
    finally:
        anvil_mod.chain_down()


def test_embedded_anvil_lives_for_the_block_only(no_chain: None) -> None:
    with pytest.raises(ChainError, match="no --rpc-url given"), chain_context():
        pass
    with chain_context(embedded=True) as conn:
        assert conn.chain_id == 31337 and conn.w3.eth.block_number >= 0
        url = conn.url
    assert anvil_mod.rpc_chain_id(url) is None  # stopped with the block


def test_env_url_is_used_and_its_chain_id_checked(no_chain: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with anvil_mod.local_anvil() as node:
        monkeypatch.setenv(RPC_URL_ENV, node.url)
        with chain_context(embedded=True) as conn:
            assert conn.url == node.url  # the configured chain, not a new anvil
        with pytest.raises(ChainError, match="expected 1"), chain_context(expected_chain_id=1):
            pass


def test_the_service_binding_reads_the_env_url(no_chain: None, mlp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # `zkml serve --rpc-url` used to skip $ZKML_RPC_URL and fall through to `zkml chain up`'s chain.
    monkeypatch.setenv(RPC_URL_ENV, "http://from-env:8545")
    from zkml.serve.build import ServeOptions, oracle_binding

    pipeline = mlp.pipeline
    options = ServeOptions(model_id="0x" + "11" * 32, oracle="0x" + "22" * 20)
    assert oracle_binding(pipeline, options).rpc_url == "http://from-env:8545"
    assert oracle_binding(pipeline, replace(options, rpc_url="http://explicit:1")).rpc_url == "http://explicit:1"


def test_the_env_variable_is_read_in_one_place() -> None:
    readers = sorted(
        str(path.relative_to(REPO))
        for folder in ("zkml", "cli")
        for path in (REPO / folder).rglob("*.py")
        if re.search(r"[\x27\"]ZKML_RPC_URL[\x27\"]", path.read_text())  # the name as a string: what reads it
    )
    assert readers == ["zkml/evm/context.py"]
