"""Session fixtures for the oracle tests: compiled contracts, deployed verifiers, the oracle and a market.

Everything slow happens once per session on the suite's shared ``anvil``
(tests/conftest.py), before any test snapshots the chain: the contracts compile,
the plain verifiers of the ``mlp`` and ``tiny`` circuits and the oracle are
deployed (``world``), and ``market`` fills a price feed with the example series,
deploys its returns feature source and proves the mlp model on two attested
windows. Each test using ``chain`` then runs inside ``conn``'s
``evm_snapshot``/``evm_revert``, so it starts from "oracle, feed and source
deployed, no model registered".

Session fixtures that deploy must be set up before the first snapshot of a test
using them, or the first revert removes their contracts: tests request them
before ``conn``/``chain``, and pytest sets up session fixtures first anyway.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zkml.evm.anvil import AnvilNode
from zkml.evm.rpc import Connection, Sender, connect
from zkml.oracle.client import deploy_oracle
from zkml.oracle.compile import OracleContracts, compile_contracts
from zkml.oracle.mirror import ReturnsSpec


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


def copy_workspace(source: Path, build_dir: Path) -> Path:
    """A private copy of a proved workspace (``build_dir/<name>``): tests that prove write into their copy only.

    The proving key (100+ MB, only ever read) is hard-linked instead of copied.
    """

    def copy(src: str, dst: str) -> None:
        if Path(src).name == "pk.key":
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    target = build_dir / source.name
    shutil.copytree(source, target, copy_function=copy)
    return target


@dataclass(frozen=True)
class Market:
    """A session price feed holding the example series, its returns source, and attested mlp proofs.

    Attributes:
        feed, source: the PushFeed and the ReturnsFeatureSource over it.
        spec: the source's window, input scale and multiplier (the mlp model's input).
        latest: epoch L, the feed's last round when the session began.
        proof: the mlp model proved on the feed's window at L (the honest path).
        flat_proof: the mlp model proved on the all-zero window: what every epoch of a flat
            market attests (prices equal over window + 1 rounds), so it publishes at any such epoch.
        prover_build: a build dir whose mlp workspace's last proof is ``proof`` (its cached
            prove stage makes a re-proof of that window free); copy it before proving in it.
        bounds: the model's registered input bounds (calibrated range plus margin, scaled).
    """

    feed: str
    source: str
    spec: ReturnsSpec
    latest: int
    proof: Path
    flat_proof: Path
    prover_build: Path
    bounds: tuple[tuple[int, int], ...]

    def __repr__(self) -> str:
        return f"Market(feed={self.feed}, latest={self.latest})"


@pytest.fixture(scope="session")
def market(world: World, mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Market:
    from zkml.oracle.attest import prove_attested
    from zkml.oracle.binding import workspace_bounds
    from zkml.oracle.demo import demo_prices, fill_demo_feed
    from zkml.oracle.feed import AttestedInput, attested_input, deploy_source, latest_epoch
    from zkml.oracle.registry import workspace_model
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    root = tmp_path_factory.mktemp("market")
    prover = Pipeline(mlp.pipeline.config, Workspace(copy_workspace(mlp.workspace, root / "build")))
    model = workspace_model(mlp.workspace)
    feed_config = mlp.pipeline.config.feed
    conn, owner, contracts = world.conn, world.owner, world.contracts
    feed, _ = fill_demo_feed(conn, root, demo_prices(prover, feed_config), feed_config, sender=owner, contracts=contracts)
    spec = ReturnsSpec(model.spec.sample_width, model.spec.input_scale, feed_config.multiplier)
    source = deploy_source(conn, root, feed.address, spec, sender=owner, contracts=contracts)
    bounds = workspace_bounds(mlp.workspace, model.spec.input_scale, model.spec.sample_width)
    width = model.spec.sample_width
    zeros = AttestedInput(0, (0,) * width, (0.0,) * width, 0, ())
    flat_proof = root / "flat_proof.json"
    shutil.copyfile(prove_attested(prover, zeros, model.spec, bounds), flat_proof)
    latest = latest_epoch(conn, feed.address, contracts=contracts)
    attested = attested_input(conn, feed.address, latest, spec, contracts=contracts)
    proof = root / "epoch_proof.json"
    shutil.copyfile(prove_attested(prover, attested, model.spec, bounds), proof)
    return Market(feed.address, source.address, spec, latest, proof, flat_proof, root / "build", bounds)
