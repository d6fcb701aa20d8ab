"""The whole oracle flow on one chain: from a workspace to the DeFi consumer acting on attested data.

The demo deploys a local price feed and fills it with the circuit's example
series, deploys the feature source that turns the feed's rounds into the
model's input, registers the model as attested (after checking its verifier's
code and SRS), proves the model on the feed's latest window, publishes the
proof, and lets the ForecastVault act on it. Nobody chose the input: it is the
feed's data at the epoch the prediction names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from zkml.artifacts import DemoResult
from zkml.config import ConsumerConfig, FeedConfig
from zkml.errors import OracleError, OracleRevertError
from zkml.evm.records import Deployment
from zkml.evm.rpc import Connection, Sender, resolve_sender
from zkml.oracle.client import Publication, deploy_oracle, publish, read_prediction
from zkml.oracle.compile import OracleContracts, compile_contracts
from zkml.oracle.consumer import ConsumerState, consumer_act, consumer_state, deploy_consumer
from zkml.oracle.encoding import hex32
from zkml.oracle.registry import Registration, register_workspace, workspace_model

if TYPE_CHECKING:
    from zkml.oracle.oracle_model import OracleModel
    from zkml.proving.warm import ProvableCircuit

# A re-run on a long-lived chain: the vault may have acted on this epoch already, be cooling down,
# or (someone pushed a round since) wait for the feed's newer latest epoch to be published.
_EXPECTED_ON_RERUN = ("NotNewer", "CooldownActive", "NotLatestEpoch")


class DemoBackend(Protocol):
    """What the demo's proof system brings: the model's registration with its verifier, and proofs of the feed's windows.

    :class:`Halo2Demo` is the workspace's own (ezkl) verifier; :class:`zkml.circom.demo.CircomDemo`
    a circom system's adapter. Everything else in the demo (feed, source, oracle, vault, publish,
    act) is the same for both, here.
    """

    @property
    def kind(self) -> str:
        """``verifier_kind`` in the demo's result."""
        ...

    def register(
        self, conn: Connection, oracle: str, model: OracleModel, *, feature_source: str, max_epoch_lag: int, sender: Sender,
        contracts: OracleContracts,
    ) -> Registration:  # fmt: skip
        """Register the model as attested by ``feature_source`` with this backend's verifier (idempotent)."""
        ...

    def prove(
        self, conn: Connection, model: OracleModel, feed: str, epochs: list[int], bounds: tuple[tuple[int, int], ...],
        contracts: OracleContracts,
    ) -> tuple[Path, list[float]]:  # fmt: skip
        """Prove the model on ``feed``'s windows at ``epochs`` (checked against ``bounds``): the proof and its inputs."""
        ...

    def vka_words(self, model: OracleModel) -> tuple[bytes, ...] | None:
        """The VKA every submission carries (the reusable halo2 verifier), else None."""
        ...


@dataclass(frozen=True)
class Halo2Demo:
    """The workspace's halo2 verifier (plain, or the reusable one with the model's VKA) and ezkl's proofs."""

    pipeline: ProvableCircuit
    verifier: str | None = None
    reusable: bool = False

    @property
    def kind(self) -> str:
        return "reusable+vka" if self.reusable else "plain"

    def register(
        self, conn: Connection, oracle: str, model: OracleModel, *, feature_source: str, max_epoch_lag: int, sender: Sender,
        contracts: OracleContracts,
    ) -> Registration:  # fmt: skip
        return register_workspace(
            conn, oracle, self.pipeline, verifier=self.verifier, feature_source=feature_source, max_epoch_lag=max_epoch_lag,
            max_age=model.max_age, reusable=self.reusable, sender=sender, contracts=contracts,
        )  # fmt: skip

    def prove(
        self, conn: Connection, model: OracleModel, feed: str, epochs: list[int], bounds: tuple[tuple[int, int], ...],
        contracts: OracleContracts,
    ) -> tuple[Path, list[float]]:  # fmt: skip
        from zkml.oracle.attest import ATTESTED_DIR, prove_attested
        from zkml.oracle.feed import attested_input
        from zkml.oracle.multi_feed import epochs_batch, prove_feed_batch
        from zkml.proving.warm import ProverSpec

        spec = model.returns_spec()
        if len(epochs) == 1:
            attested = attested_input(conn, feed, epochs[0], spec, contracts=contracts)
            return prove_attested(self.pipeline, attested, model.spec, bounds), list(attested.values)
        batch = epochs_batch(conn, feed, epochs, spec, contracts=contracts)
        folder = Path(self.pipeline.ws.root) / ATTESTED_DIR
        proof = prove_feed_batch(ProverSpec.from_pipeline(self.pipeline), folder, batch, model.spec, bounds)
        return proof, [v for item in batch.inputs for v in item.values]

    def vka_words(self, model: OracleModel) -> tuple[bytes, ...] | None:
        from zkml.oracle.registry import workspace_vka

        return tuple(workspace_vka(model.root).words) if self.reusable else None


def demo_prices(pipeline: ProvableCircuit, feed: FeedConfig) -> list[float]:
    """The example price series the demo pushes: the last ``demo_rounds`` of ``[feed] demo_series``.

    Raises:
        OracleError: the circuit declares no series.
    """
    from zkml.export import load_callable

    if not feed.demo_series:
        raise OracleError(
            "the circuit declares no [feed] demo_series to fill the demo feed with", hint='add demo_series = "model.py:prices"'
        )
    series = [float(p) for p in load_callable(feed.demo_series, pipeline.config.root)()]
    return series[-feed.demo_rounds :]


def series_prices(circuit_dir: Path, *, offset: int = 0, rounds: int | None = None) -> list[float]:
    """A circuit's ``[feed] demo_series``: the ``rounds`` prices (default ``demo_rounds``) ending ``offset`` before its end.

    Different offsets give feeds whose windows at one round differ (the assets of a multi-feed demo).

    Raises:
        ConfigError: the folder has no zkml.toml.
        OracleError: it declares no series, or the series is too short for the offset and rounds.
    """
    from zkml.config import load_config
    from zkml.export import load_callable

    config = load_config(Path(circuit_dir))
    feed = config.feed or FeedConfig()
    if not feed.demo_series:
        raise OracleError(f"{circuit_dir} declares no [feed] demo_series", hint='add demo_series = "model.py:prices"')
    series = [float(p) for p in load_callable(feed.demo_series, config.root)()]
    count = rounds or feed.demo_rounds
    if offset < 0 or count < 1 or offset + count > len(series):
        raise OracleError(f"the series has {len(series)} prices: {count} rounds at offset {offset} do not fit")
    return series[len(series) - offset - count : len(series) - offset]


def fill_demo_feed(
    conn: Connection, record_dir: Path, prices: list[float], feed: FeedConfig, *, sender: Sender, contracts: OracleContracts | None
) -> tuple[Deployment, int]:
    """Deploy a fresh local feed and push ``prices`` into it; returns the feed and the gas of the pushes."""
    from zkml.oracle.feed import deploy_feed, push_prices
    from zkml.oracle.mirror import answer_of

    deployed = deploy_feed(conn, record_dir, decimals=feed.decimals, description="zkml demo feed", sender=sender, contracts=contracts)
    pushed = push_prices(conn, deployed.address, [answer_of(p, feed.decimals) for p in prices], sender=sender, contracts=contracts)
    return deployed, pushed.gas_used


def demo_flow(
    pipeline: ProvableCircuit,
    conn: Connection,
    *,
    consumer: ConsumerConfig | None = None,
    feed: FeedConfig | None = None,
    sender: Sender | None = None,
    verifier: str | None = None,
    reusable: bool = False,
    backend: DemoBackend | None = None,
) -> DemoResult:
    """From a workspace with a deployed verifier to the DeFi consumer acting on an attested prediction.

    A batch-B workspace is proved once on the feed's B newest epochs' windows, registered with
    ``max_epoch_lag`` at least B - 1 (the oracle bounds every sample's epoch by the source's
    latest) and published at once; the vault acts on the newest.

    Args:
        pipeline: a :class:`zkml.pipeline.Pipeline` whose verifier is deployed on ``conn``.
        conn: the chain.
        consumer: the consumer and its policy (``[consumer]`` of zkml.toml); the defaults when None.
        feed: the feed settings (``[feed]``); the pipeline's config when None.
        sender: the account (owner of the oracle, feed and source).
        verifier: the verifier address; read from the deployments record when None.
        reusable: the verifier is the reusable one: the model is registered with its VKA's
            digest and every submission carries the VKA (a model whose plain verifier is over EIP-170).
        backend: the proof system; default: :class:`Halo2Demo` with ``verifier`` and ``reusable``.

    Returns:
        A :class:`zkml.artifacts.DemoResult` (JSON as it is): addresses, ``model_id``, ``epoch`` (the
        newest proved), ``input`` (every sample's window, sample-major), ``prediction``, ``gas`` per step, ``consumer`` (the vault's state) and ``consumer_note``
        when the vault did not act.

    Raises:
        OracleError: no [feed] demo series, a window outside the model's bounds, or a refused step.
        ChainError: the RPC, account or a transaction failed.
    """
    from zkml.oracle.feed import latest_epoch

    backend = backend or Halo2Demo(pipeline, verifier, reusable)
    model = _demo_model(pipeline, feed, consumer)
    b = model.spec.batch_size
    sender = sender or resolve_sender(conn)
    contracts = compile_contracts()
    chain = _deploy(pipeline, model, conn, backend, sender=sender, contracts=contracts)
    registration = chain.registration
    top = latest_epoch(conn, chain.feed.address, contracts=contracts)
    epochs = list(range(top - b + 1, top + 1))
    proof_path, values = backend.prove(conn, model, chain.feed.address, epochs, registration.bounds, contracts)
    publication = publish(
        conn, chain.oracle.address, registration.model_id, proof_path, epochs=epochs, on_replay="read",
        vka_words=backend.vka_words(model), sender=sender, contracts=contracts,
    )  # fmt: skip
    gas = _sent_gas(chain.oracle, chain.vault, registration, publication) | {
        "deploy_feed": chain.feed.gas_used,
        "push_rounds": chain.push_gas,
        "submit_per_prediction": None if publication.gas_used is None else publication.gas_used // b,
    }
    gas["deploy_source"] = None if chain.source.reused else chain.source.gas_used
    state, note = read_and_act(
        conn, chain.oracle.address, registration.model_id, chain.vault.address, top, gas, sender=sender, contracts=contracts
    )
    return {
        "oracle_address": chain.oracle.address,
        "feed_address": chain.feed.address,
        "source_address": chain.source.address,
        "consumer_address": chain.vault.address,
        "model_id": hex32(registration.model_id),
        "epoch": top,
        "input": values,
        "proof": str(proof_path),
        "verifier_kind": backend.kind,
        "registration": registration.as_dict(),
        "replayed": publication.replayed,
        "tx_hash": publication.tx_hash,
        "prediction": publication.prediction.as_dict(),
        "gas": gas,
        "consumer": state.as_dict(),
        "consumer_note": note,
    }


def _demo_model(pipeline: ProvableCircuit, feed: FeedConfig | None, consumer: ConsumerConfig | None) -> OracleModel:
    """The workspace's model with the demo's feed and consumer policy (given, else the config's, else the defaults)."""
    from dataclasses import replace

    from zkml.oracle.oracle_model import OracleModel

    config = pipeline.config
    model = OracleModel(workspace_model(pipeline), feed or config.feed or FeedConfig(), consumer or config.consumer or ConsumerConfig())
    b = model.spec.batch_size
    if b > 1:  # B consecutive epochs need B windows' worth of rounds past the first window
        model = replace(model, feed=replace(model.feed, demo_rounds=max(model.feed.demo_rounds, b + model.returns_spec().window + 1)))
    return model


def read_and_act(
    conn: Connection, oracle: str, model_id: bytes, vault: str, epoch: int, gas: dict[str, int | None], *, sender: Sender,
    contracts: OracleContracts,
) -> tuple[ConsumerState, str]:  # fmt: skip
    """Read the prediction at ``epoch`` and let the vault act (their gas into ``gas``); on a re-run the vault's refusal is the note.

    A demo re-run on a long-lived chain finds the vault already acted on this epoch (``NotNewer``),
    cooling down, or waiting for a newer epoch someone pushed: those refusals are the returned note
    (the vault's state is read instead); any other refusal is raised.
    """
    try:
        _, gas["read"] = read_prediction(conn, oracle, model_id, epoch=epoch, contracts=contracts)
        state, gas["act"] = consumer_act(conn, vault, sender=sender, contracts=contracts)
        return state, ""
    except OracleRevertError as exc:
        if exc.error not in _EXPECTED_ON_RERUN:
            raise
        gas.setdefault("read", None)
        gas.setdefault("act", None)
        return consumer_state(conn, vault, contracts=contracts), str(exc)


@dataclass(frozen=True)
class _DemoChain:
    """What the demo deploys and registers before it proves."""

    oracle: Deployment
    feed: Deployment
    push_gas: int
    source: Deployment
    registration: Registration
    vault: Deployment


def _deploy(
    pipeline: ProvableCircuit,
    model: OracleModel,
    conn: Connection,
    backend: DemoBackend,
    *,
    sender: Sender,
    contracts: OracleContracts,
) -> _DemoChain:
    """The oracle, a feed filled with the demo series, its feature source, the attested registration and the vault."""
    from zkml.oracle.feed import deploy_source

    oracle = deploy_oracle(conn, model.root, sender=sender, contracts=contracts)
    prices = demo_prices(pipeline, model.feed)
    price_feed, push_gas = fill_demo_feed(conn, model.root, prices, model.feed, sender=sender, contracts=contracts)
    source = deploy_source(conn, model.root, price_feed.address, model.returns_spec(), sender=sender, contracts=contracts)
    registration = backend.register(
        conn, oracle.address, model, feature_source=source.address,
        max_epoch_lag=max(model.max_epoch_lag, model.spec.batch_size - 1),  # every sample's epoch within the lag of the latest
        sender=sender, contracts=contracts,
    )  # fmt: skip
    vault = deploy_consumer(
        conn, oracle.address, registration.model_id, model.root, config=model.consumer, sender=sender, contracts=contracts
    )
    return _DemoChain(oracle, price_feed, push_gas, source, registration, vault)


def _sent_gas(oracle: Deployment, vault: Deployment, registration: Registration, publication: Publication) -> dict[str, int | None]:
    """Gas of each step that sent a transaction (None for the steps that reused what was there)."""
    return {
        "deploy_oracle": None if oracle.reused else oracle.gas_used,
        "deploy_consumer": None if vault.reused else vault.gas_used,
        "register": None if registration.reused else registration.gas_used,
        "submit": publication.gas_used,
        "read": None,
        "act": None,
    }


__all__ = ["DemoBackend", "Halo2Demo", "demo_flow", "demo_prices", "fill_demo_feed", "read_and_act", "series_prices"]
