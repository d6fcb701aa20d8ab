"""Session fixtures for the oracle tests: one anvil, compiled contracts, deployed verifiers.

Everything slow happens once per session, before any test snapshots the chain: the
contracts compile, the plain verifiers of the ``mlp`` and ``tiny`` circuits and the
oracle are deployed. Each test then runs between ``evm_snapshot`` and ``evm_revert``,
so it starts from "oracle deployed, no model registered".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.evm import chain as chain_mod


@dataclass(frozen=True)
class World:
    """The session chain with what every test needs on it."""

    conn: chain_mod.Connection
    node: chain_mod.AnvilNode
    contracts: orc.OracleContracts
    oracle: str
    owner: chain_mod.Sender
    stranger: chain_mod.Sender
    mlp_verifier: str
    tiny_verifier: str
    record_dir: Path

    def __repr__(self) -> str:  # hypothesis prints fixtures on failure: keep it short
        return f"World(oracle={self.oracle}, url={self.node.url})"


@pytest.fixture(scope="session")
def oracle_anvil() -> Iterator[chain_mod.AnvilNode]:
    """One anvil for the oracle tests."""
    try:
        chain_mod.find_anvil()
    except chain_mod.AnvilError as exc:
        pytest.skip(f"anvil is not installed: {exc}")
    with chain_mod.local_anvil() as node:
        yield node


@pytest.fixture(scope="session")
def world(oracle_anvil: chain_mod.AnvilNode, mlp: Any, tiny: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    conn = chain_mod.connect(oracle_anvil.url)
    accounts = list(conn.w3.eth.accounts)
    owner, stranger = chain_mod.Sender(accounts[0]), chain_mod.Sender(accounts[1])
    contracts = orc.compile_contracts()
    mlp_dep = mlp.pipeline.deploy(conn, sender=owner)
    tiny_dep = tiny.pipeline.deploy(conn, sender=owner)
    record_dir = tmp_path_factory.mktemp("oracle_records")
    oracle = orc.deploy_oracle(conn, record_dir, sender=owner, contracts=contracts)
    return World(conn, oracle_anvil, contracts, oracle.address, owner, stranger, mlp_dep.address, tiny_dep.address, record_dir)


@pytest.fixture
def chain(world: World) -> Iterator[World]:
    """The session world, reverted to its prior state after the test."""
    snap = world.conn.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield world
    finally:
        assert world.conn.w3.provider.make_request("evm_revert", [snap])["result"] is True


@pytest.fixture(scope="session")
def hashed(tiny_hashed: Any) -> Any:
    """The tiny circuit with ``input_visibility = "hashed"`` (tests/conftest.py), proved once."""
    return tiny_hashed.pipeline
