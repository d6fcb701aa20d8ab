"""Fixtures for the service tests: the mlp model served, live servers on loopback, a chain with an attested model.

The mlp workspace is the session's (tests/conftest.py ``mlp``), proved once. A
service started here runs a real uvicorn on 127.0.0.1 on a free port, with real
prover processes; a chain is this package's own anvil (so the feeds and
publications here never meet the oracle tests' snapshots).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ZKML = Path(sys.executable).parent / "zkml"
# Anvil's deterministic dev account 1 (well known, local chains only): publishing signs locally,
# so the transaction hash is recorded before the transaction is sent.
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_input() -> dict[str, Any]:
    return dict(json.loads((REPO / "circuits" / "mlp_regressor" / "input.json").read_text()))


def jittered_inputs(count: int) -> list[dict[str, Any]]:
    """``count`` distinct inputs near the sample (inside the calibrated range), deterministic."""
    import numpy as np

    base = np.asarray(sample_input()["input_data"][0], dtype=float)
    rng = np.random.default_rng(7)
    return [{"input_data": [list(map(float, base + rng.normal(scale=0.05, size=base.shape)))]} for _ in range(count)]


class LiveServer:
    """A service's app on uvicorn in a thread, on 127.0.0.1."""

    def __init__(self, service: Any) -> None:
        import uvicorn

        from zkml.serve.app import create_app

        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, token: str | None = None, timeout: float = 120.0) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@pytest.fixture(scope="session")
def tuned_mlp(tmp_path_factory: pytest.TempPathFactory, zkml_cache: Path) -> Any:
    """circuits/mlp_regressor built once with its tuned settings (the committed ``circuits/mlp_regressor/tuned.json``,
    which the pipeline applies by itself)."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    root = tmp_path_factory.mktemp("serve-build") / "mlp_regressor"
    root.mkdir()
    pipeline = Pipeline(load_config(REPO / "circuits" / "mlp_regressor"), Workspace(root))
    summary = pipeline.run()
    assert str(summary.extra.get("settings", "")).startswith("tuned"), summary.extra
    return pipeline


@pytest.fixture(scope="session")
def served(tuned_mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tuned mlp workspace as a served model (no oracle binding)."""
    pytest.importorskip("fastapi")
    from zkml.serve.models import load_model

    return load_model(tuned_mlp, tmp_path_factory.mktemp("serve-check"))


def make_service(served: Any, folder: Path, **config: Any) -> Any:
    """A service (not started) over a SQLite store in ``folder``."""
    from zkml.serve.service import ServeConfig, Service

    return Service(ServeConfig(store_url=str(folder / "jobs.sqlite"), data_dir=folder / "data", **config), {served.name: served})


@pytest.fixture(scope="session")
def live(served: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One running service with one prover worker, for the API tests (they share its queue)."""
    service = make_service(served, tmp_path_factory.mktemp("serve-live"), max_queue=16).start()
    try:
        with LiveServer(service) as server:
            yield server
    finally:
        service.stop()


@pytest.fixture(scope="session")
def tokens(live: LiveServer) -> dict[str, str]:
    """Secrets of tokens with each scope set: ``prove``, ``publish`` (only), ``both``."""
    from zkml.serve.tokens import create_token

    store = live.service.store
    return {
        "prove": create_token(store, "prover", frozenset({"prove"}))[1],
        "publish": create_token(store, "publisher", frozenset({"publish"}))[1],
        "both": create_token(store, "both", frozenset({"prove", "publish"}))[1],
    }


# -- a server in its own process (for kill -9)


@dataclass
class ServerProcess:
    """``zkml serve start`` in a subprocess (its own process group, so its prover workers die with it)."""

    args: list[str]
    env: dict[str, str]
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        import httpx

        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server exited: {self.log.read_text()[-3000:]}"
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not come up: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        """SIGKILL the whole process group: the server and its prover workers, no clean-up of any kind."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait_killed(self, timeout: float) -> int:
        """Wait for the server to die on its own (fault injection); its exit code. Then reap the group."""
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def server_process(workspace: Path, folder: Path, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
    """A ``zkml serve start`` command line over ``workspace`` with its store and data in ``folder``."""
    if shutil.which(str(ZKML)) is None:
        pytest.skip(f"{ZKML} is not installed (run make setup)")
    port = free_port()
    args = [
        str(ZKML),
        "serve",
        "start",
        str(workspace),
        "--db",
        str(folder / "jobs.sqlite"),
        "--data-dir",
        str(folder / "data"),
        "--port",
        str(port),
        *extra,
    ]
    return ServerProcess(args, {**os.environ, **(env or {})}, folder / "server.log", port)


def make_token(folder: Path, scopes: str = "prove") -> str:
    """A token in ``folder``'s store, made through the CLI."""
    from click.testing import CliRunner
    from zkml_cli.main import cli

    result = CliRunner().invoke(cli, ["serve", "token", "create", "test", "--scopes", scopes, "--db", str(folder / "jobs.sqlite")], obj={})
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


# -- a chain with the tuned mlp registered as an attested model over a price feed


@dataclass
class Market:
    """This package's anvil with an oracle, a feed holding the example series' head, its source, the model registered."""

    conn: Any
    url: str
    oracle: str
    feed: str
    model_id: bytes
    owner: Any
    rest: list[int]  # feed answers not pushed yet (the rounds tests push)
    contracts: Any

    def push(self, count: int) -> list[int]:
        """Push the next ``count`` rounds; the new epochs."""
        from zkml.oracle.feed import latest_epoch, push_prices

        answers, self.rest = self.rest[:count], self.rest[count:]
        assert len(answers) == count, "the example series ran out"
        push_prices(self.conn, self.feed, answers, sender=self.owner, contracts=self.contracts)
        latest = latest_epoch(self.conn, self.feed)
        return list(range(latest - count + 1, latest + 1))

    def published(self) -> list[tuple[int, str]]:
        """(epoch, tx hash) of every PredictionPublished event of the model, in order."""
        from zkml.oracle.calls import bind

        contract = bind(self.conn, self.oracle, self.contracts.oracle)
        logs = contract.events.PredictionPublished().get_logs(from_block=0)
        return [
            (int(e["args"]["epoch"]), "0x" + bytes(e["transactionHash"]).hex())
            for e in logs
            if bytes(e["args"]["modelId"]) == self.model_id
        ]

    def binding(self) -> Any:
        from zkml.serve.models import OracleBinding

        return OracleBinding(self.url, self.oracle, self.model_id, feed=self.feed, multiplier=100)


@pytest.fixture(scope="session")
def market(tuned_mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    """Everything on a fresh anvil: verifier, oracle, a feed with 30 rounds of the example series (90 left to push), the source, the model (lag 8)."""
    from zkml.errors import AnvilError
    from zkml.evm.anvil import find_anvil, local_anvil
    from zkml.evm.rpc import Sender, connect
    from zkml.export import load_callable
    from zkml.oracle.client import deploy_oracle
    from zkml.oracle.compile import compile_contracts
    from zkml.oracle.feed import deploy_feed, deploy_source, push_prices
    from zkml.oracle.mirror import ReturnsSpec, answer_of
    from zkml.oracle.registry import register_workspace, workspace_model

    try:
        find_anvil()
    except AnvilError as exc:
        pytest.skip(f"anvil is not installed: {exc}")
    root = tmp_path_factory.mktemp("serve-market")
    feed_config = tuned_mlp.config.feed
    series = [float(p) for p in load_callable(feed_config.demo_series, tuned_mlp.config.root)()]
    answers = [answer_of(p, feed_config.decimals) for p in series[-120:]]
    with local_anvil() as node:
        conn = connect(node.url)
        owner = Sender(list(conn.w3.eth.accounts)[0])
        contracts = compile_contracts()
        verifier = tuned_mlp.deploy(conn, sender=owner)
        oracle = deploy_oracle(conn, root, sender=owner, contracts=contracts)
        feed = deploy_feed(conn, root, decimals=feed_config.decimals, description="serve test feed", sender=owner, contracts=contracts)
        push_prices(conn, feed.address, answers[:30], sender=owner, contracts=contracts)
        model = workspace_model(tuned_mlp)
        spec = ReturnsSpec(model.spec.sample_width, model.spec.input_scale, feed_config.multiplier)
        source = deploy_source(conn, root, feed.address, spec, sender=owner, contracts=contracts)
        registration = register_workspace(
            conn, oracle.address, tuned_mlp, verifier=verifier.address, feature_source=source.address,
            max_epoch_lag=8, sender=owner, contracts=contracts,
        )  # fmt: skip
        yield Market(conn, node.url, oracle.address, feed.address, registration.model_id, owner, answers[30:], contracts)


@pytest.fixture
def signer(monkeypatch: pytest.MonkeyPatch) -> str:
    """Publish with a local key (hash known before sending), as the exactly-once rule needs."""
    monkeypatch.setenv("ZKML_PRIVATE_KEY", ANVIL_KEY_1)
    return ANVIL_KEY_1


# -- a PostgreSQL server of the tests' own (the store tests, replicas on one store)


def _as_postgres_user(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; on a root CI runner run them as the postgres user.
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and no runuser to start PostgreSQL as another user")
        return [runuser, "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own: initdb in a temporary folder, pg_ctl start on a free loopback port."""
    pytest.importorskip("psycopg")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH")
    folder = Path(tempfile.mkdtemp(prefix="zkml-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()
    try:
        subprocess.run(
            _as_postgres_user([initdb, "-D", str(data), "-U", "zkml", "--auth=trust", "-E", "UTF8"]), check=True, capture_output=True
        )
        # Replicas hold a connection per thread that touched the store (HTTP pool included): room for several.
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]),
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-2000:]}")
    try:
        yield f"postgresql://zkml@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(postgres_url: str, name: str) -> str:
    """A new, empty database on the tests' PostgreSQL server (dropped first if a rerun left it); its URL."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"
