"""Session fixtures for the oracle tests: compiled contracts, deployed verifiers and the oracle.

Everything slow happens once per session on the suite's shared ``anvil``
(tests/conftest.py), before any test snapshots the chain: the contracts compile,
the plain verifiers of the ``mlp`` and ``tiny`` circuits and the oracle are
deployed. Each test using ``chain`` then runs inside ``conn``'s
``evm_snapshot``/``evm_revert``, so it starts from "oracle deployed, no model
registered".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zkml.evm.anvil import AnvilNode
from zkml.evm.rpc import Connection, Sender, connect
from zkml.oracle.client import deploy_oracle
from zkml.oracle.compile import OracleContracts, compile_contracts


@dataclass(frozen=True)
class World:
    """The session chain with what every test needs on it."""

    conn: Connection
    node: AnvilNode
    contracts: OracleContracts
    oracle: str
    owner: Sender
    stranger: Sender
    mlp_verifier: str
    tiny_verifier: str
    record_dir: Path

    def __repr__(self) -> str:  # hypothesis prints fixtures on failure: keep it short
        return f"World(oracle={self.oracle}, url={self.node.url})"


@pytest.fixture(scope="session")
def world(anvil: AnvilNode, mlp: Any, tiny: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    conn = connect(anvil.url)
    accounts = list(conn.w3.eth.accounts)
    owner, stranger = Sender(accounts[0]), Sender(accounts[1])
    contracts = compile_contracts()
    mlp_dep = mlp.pipeline.deploy(conn, sender=owner)
    tiny_dep = tiny.pipeline.deploy(conn, sender=owner)
    record_dir = tmp_path_factory.mktemp("oracle_records")
    oracle = deploy_oracle(conn, record_dir, sender=owner, contracts=contracts)
    return World(conn, anvil, contracts, oracle.address, owner, stranger, mlp_dep.address, tiny_dep.address, record_dir)


@pytest.fixture
def chain(world: World, conn: Connection) -> World:
    """The session world; ``conn`` (tests/conftest.py) reverts the chain to this state after the test."""
    return world


@pytest.fixture(scope="session")
def hashed(tiny_hashed: Any) -> Any:
    """The tiny circuit with ``input_visibility = "hashed"`` (tests/conftest.py), proved once."""
    return tiny_hashed.pipeline
