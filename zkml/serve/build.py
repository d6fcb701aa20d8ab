"""Build the proving service (and its keeper) from circuits and options: what ``zkml serve start`` composes.

The CLI resolves its targets into pipelines and its flags into :class:`ServeOptions`;
everything else (which chain, which model id, which epoch lag) is decided here, with
the same defaults registration uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.serve.store import DEFAULT_HEARTBEAT_S, DEFAULT_LEASE_S

if TYPE_CHECKING:
    from zkml.proving.many import ProvableCircuit
    from zkml.serve.keeper import Keeper
    from zkml.serve.models import OracleBinding
    from zkml.serve.service import Service


@dataclass(frozen=True)
class ServeOptions:
    """How to serve, beyond the circuits (``zkml serve start``'s options; host and port stay uvicorn's).

    Attributes:
        store_url: the job store (a SQLite file or a ``postgresql://`` URL).
        data_dir: folder for job inputs and proofs.
        workers: prover processes per model (or local Ray CPUs).
        ray_address: a Ray cluster to prove on, or None for local workers.
        max_queue: jobs queued or proving before a POST gets 429.
        max_body_bytes: the largest request body (413 above).
        batch_size, batch_wait_s: folding of queued jobs into batched proofs.
        rpc_url: the chain for publishing (resolved by :mod:`zkml.evm.context`).
        oracle: publish the first model's predictions to this oracle.
        model_id: the registered model id (hex; default: the workspace's, with the feature source it recorded on the chain).
        feed: the attested model's price feed.
        keeper: run a keeper over ``feed`` (or, for a multi-feed model, over the feeds it is registered with).
        batch_epochs: the keeper queues one job per this many consecutive epochs of one feed (a model registered
            with this batch size, served on its batch circuit).
        max_epoch_lag: the model's registered lag (default: the one registration uses).
        listen: the API's address, recorded with the store's owner (a second service is told it).
        lease_s, heartbeat_s: how long a replica's claim on a job lasts without a heartbeat, and how often it beats.
    """

    store_url: str = "serve/jobs.sqlite"
    data_dir: Path = Path("serve")
    workers: int = 1
    ray_address: str | None = None
    max_queue: int = 64
    max_body_bytes: int = 1 << 20
    batch_size: int = 1
    batch_wait_s: float = 0.5
    rpc_url: str | None = None
    oracle: str | None = None
    model_id: str | None = None
    feed: str | None = None
    keeper: bool = False
    batch_epochs: int = 1
    max_epoch_lag: int | None = None
    listen: str | None = None
    lease_s: float = DEFAULT_LEASE_S
    heartbeat_s: float = DEFAULT_HEARTBEAT_S


def oracle_binding(pipeline: ProvableCircuit, options: ServeOptions) -> OracleBinding:
    """Where the first model publishes: the resolved chain, the oracle, its model id and feed.

    Raises:
        ChainError: no chain configured (see :func:`zkml.evm.context.chain_url`).
    """
    from zkml.evm.context import chain_url
    from zkml.evm.rpc import connect
    from zkml.oracle.encoding import parse_bytes32
    from zkml.oracle.oracle_model import OracleModel
    from zkml.serve.models import OracleBinding

    assert options.oracle is not None
    model = OracleModel.of(pipeline)
    url = chain_url(options.rpc_url)
    # Without --model-id, the id the CLI's register/publish use: the keys with the source recorded on this chain.
    model_id = parse_bytes32(options.model_id) if options.model_id else model.model_id(connect(url))
    return OracleBinding(url, options.oracle, model_id, feed=options.feed, multiplier=model.multiplier)


def keeper_epoch_lag(pipeline: ProvableCircuit, options: ServeOptions) -> int:
    """The lag the keeper assumes: the given one, else the model's, which registration uses too."""
    from zkml.oracle.oracle_model import OracleModel

    if options.max_epoch_lag is not None:
        return options.max_epoch_lag
    return OracleModel.of(pipeline).max_epoch_lag


def folded_binding(folded: ProvableCircuit, options: ServeOptions) -> OracleBinding:
    """The binding of a registered one-feed batch (what folded publishing sends to).

    Raises:
        ConfigError: no oracle, or the registration binds several feeds (those batches are one epoch of K
            feeds, which the keeper publishes; folding publishes B epochs of one feed).
    """
    from zkml.errors import ConfigError
    from zkml.evm.rpc import connect
    from zkml.oracle.compile import compile_contracts
    from zkml.oracle.multi_feed import feeds_of

    if not options.oracle:
        raise ConfigError("folded publishing needs the oracle the batch is registered with", hint="give --oracle (and --model-id)")
    binding = oracle_binding(folded, options)
    if feeds_of(connect(binding.rpc_url), binding.oracle, binding.model_id, contracts=compile_contracts()):
        raise ConfigError(
            f"model 0x{binding.model_id.hex()} is registered over several feeds; folding publishes B epochs of one feed",
            hint="serve it with --circuit-batch B and let the keeper publish one batch per epoch",
        )
    return binding


def build_service(
    pipelines: Sequence[ProvableCircuit], options: ServeOptions, folded: ProvableCircuit | None = None
) -> tuple[Service, Keeper | None]:
    """The service (not started) and its keeper (None without ``options.keeper``).

    Args:
        folded: the first model's registered batch-B workspace: its publishing jobs are folded B epochs a proof and
            published under that registration (``options.model_id``, else the batch workspace's own id).
    """
    from zkml.serve.backends import BackendConfig
    from zkml.serve.folding import FoldingConfig
    from zkml.serve.keeper import Keeper
    from zkml.serve.models import load_model
    from zkml.serve.service import ServeConfig, Service

    data_dir = Path(options.data_dir)
    models = {}
    batch = None
    if folded is not None:
        batch = load_model(folded, data_dir / "check-batch", binding=folded_binding(folded, options))
    for index, pipeline in enumerate(pipelines):
        if index == 0 and batch is not None:
            binding = batch.binding  # folded publishing: it takes one-epoch publishing jobs for the batch registration
        else:
            binding = oracle_binding(pipeline, options) if index == 0 and options.oracle else None
        model = load_model(pipeline, data_dir / "check", binding=binding)
        models[model.name] = model
    config = ServeConfig(
        store_url=options.store_url,
        data_dir=data_dir,
        backend=BackendConfig(workers=options.workers, ray_address=options.ray_address),
        max_queue=options.max_queue,
        max_body_bytes=options.max_body_bytes,
        folding=FoldingConfig(batch_size=options.batch_size, max_wait_s=options.batch_wait_s),
        listen=options.listen,
        lease_s=options.lease_s,
        heartbeat_s=options.heartbeat_s,
    )
    service = Service(config, models, folded_publishing={next(iter(models)): batch} if batch is not None else None)
    keeper = None
    if options.keeper:
        first = next(iter(models.values()))
        lag = keeper_epoch_lag(pipelines[0], options)
        keeper = Keeper(
            service.store, first, max_epoch_lag=lag, staging=data_dir / "staging", on_queued=service.wake, batch_epochs=options.batch_epochs
        )
    return service, keeper


def serve_http(service: Service, host: str, port: int) -> None:
    """Serve a started service's API on ``host:port`` until SIGTERM or SIGINT; the caller then stops (drains) the service.

    On the signal the service stops taking work at once, while uvicorn closes the API. Uvicorn
    re-raises the signal once it is done; with the default handler that would kill the process
    before the service drained (the proof in flight lost, its prover orphaned, semaphores leaked),
    so for the API's lifetime the handlers only ask the service to drain, and this returns.
    """
    import signal

    import uvicorn

    from zkml.serve.app import create_app

    def drain(signum: int, frame: object) -> None:
        service.drain()

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            service.drain()
            super().handle_exit(sig, frame)

    # Open long polls (``?wait=``) must not hold the drain up for their whole wait.
    config = uvicorn.Config(create_app(service), host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    previous = {sig: signal.signal(sig, drain) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        DrainingServer(config).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
