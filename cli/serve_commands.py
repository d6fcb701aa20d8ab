"""``zkml serve``: run the proving service, and manage its API tokens.

Thin: resolve targets and options, build :class:`zkml.serve.service.Service`,
hand its app to uvicorn. ``zkml serve start TARGET...`` serves; ``zkml serve
token create NAME --scopes prove,publish`` prints a token once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from zkml_cli.options import PATH, ray_option, resolve_target

from zkml.evm.context import RPC_URL_ENV

DB_OPTION = click.option(
    "--db",
    "store_url",
    default="serve/jobs.sqlite",
    show_default=True,
    help="Job store: a SQLite file, or a postgresql://user@host:port/db URL.",
)


@click.group("serve")
def serve_group() -> None:
    """A proving service: HTTP API, durable jobs, warm workers (pool or Ray), oracle publishing, a feed keeper, a live page."""


@serve_group.command("start")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.option("--build-dir", type=PATH, default=Path("build"), show_default=True, help="Workspaces are BUILD_DIR/<circuit>.")
@DB_OPTION
@click.option("--data-dir", type=PATH, default=Path("serve"), show_default=True, help="Folder for job inputs and proofs.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Prover processes per model (or local Ray CPUs).")
@ray_option
@click.option(
    "--max-queue", type=click.IntRange(min=1), default=64, show_default=True, help="Jobs queued or proving before a POST gets 429."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Fold up to this many queued jobs into one batched proof. With --oracle, publishing jobs are folded too: "
    "B distinct epochs per proof, on the first TARGET's registered batch-B workspace (BUILD_DIR/<circuit>/batch-B; "
    "--model-id its registration), published in one transaction; fewer than B distinct epochs wait for more.",
)
@click.option(
    "--batch-wait",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Longest a queued job waits for a batch to fill (seconds).",
)
@click.option(
    "--max-body", type=click.IntRange(min=1024), default=1 << 20, show_default=True, help="Largest request body in bytes (413 above)."
)
@click.option("--rpc-url", default=None, help=f"Chain for publishing (default: ${RPC_URL_ENV}, else the `zkml chain up` anvil).")
@click.option("--oracle", default=None, help="Publish the (first) model's predictions to this oracle.")
@click.option(
    "--model-id", default=None, help="The registered model id (default: the workspace's, with the feature source it recorded on the chain)."
)
@click.option("--feed", default=None, help="The attested model's price feed (the keeper watches it).")
@click.option(
    "--keeper/--no-keeper",
    default=False,
    show_default=True,
    help="Run a keeper over --feed (a multi-feed model: over the feeds it is registered with): one publication per new round.",
)
@click.option("--max-epoch-lag", type=int, default=None, help="The model's registered epoch lag (default: [feed] max_epoch_lag).")
@click.option(
    "--circuit-batch",
    type=click.IntRange(min=1),
    default=None,
    help="Serve the first TARGET's batch-B circuit (BUILD_DIR/<circuit>/batch-B): for a model registered over B feeds, "
    "or with --batch-epochs B (its default).",
)
@click.option(
    "--batch-epochs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="The keeper waits for this many new epochs of the feed and publishes them as one batched proof.",
)
@click.option(
    "--lease",
    "lease_s",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds a replica holds a claimed job without a heartbeat; then another replica takes it over.",
)
@click.option(
    "--heartbeat",
    "heartbeat_s",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds between lease heartbeats (at most half the lease).",
)
def start_cmd(targets: tuple[str, ...], build_dir: Path, **options: Any) -> None:
    """Serve TARGET... (circuit folders or workspaces): docs at /docs, the live page at /, metrics at /metrics."""
    from zkml.serve.build import ServeOptions, build_service, serve_http
    from zkml.serve.owner import check_port

    check_port(options["host"], options["port"])  # before any model loads or the store is touched
    names = {"batch_wait": "batch_wait_s", "max_body": "max_body_bytes"}
    chosen = {names.get(k, k): v for k, v in options.items() if k not in ("host", "port")}
    chosen["listen"] = f"http://{options['host']}:{options['port']}"
    # A batched circuit is its own workspace; only the first TARGET (the published, kept one) is served batched.
    circuit_batch = chosen.pop("circuit_batch") or (chosen["batch_epochs"] if chosen["batch_epochs"] > 1 else None)
    batches = [circuit_batch] + [None] * (len(targets) - 1)
    pipelines = [resolve_target(t, build_dir, batch_size=b).pipeline() for t, b in zip(targets, batches, strict=True)]
    # Folding with an oracle: publishing jobs go to the registered batch workspace of the folding size.
    fold = chosen["batch_size"] > 1 and chosen["oracle"] and circuit_batch is None
    folded = resolve_target(targets[0], build_dir, batch_size=chosen["batch_size"]).pipeline() if fold else None
    service, keeper = build_service(pipelines, ServeOptions(**chosen), folded=folded)
    with service:
        if keeper is not None:
            keeper.start()
        click.echo(
            f"zkml serve: {', '.join(service.models)} on http://{options['host']}:{options['port']}/ (store {service.store.db.dialect.name})",
            err=True,
        )
        try:
            serve_http(service, options["host"], options["port"])  # until SIGTERM/SIGINT; leaving the block drains
        finally:
            if keeper is not None:
                keeper.stop()


@serve_group.group("token")
def token_group() -> None:
    """API tokens (stored hashed; each carries scopes)."""


@token_group.command("create")
@click.argument("name")
@click.option("--scopes", default="prove", show_default=True, help="Comma-separated: prove, publish.")
@DB_OPTION
def token_create_cmd(name: str, scopes: str, store_url: str) -> None:
    """Make a token called NAME and print it (it is shown only this once)."""
    from zkml.serve.store import JobStore
    from zkml.serve.tokens import create_token, parse_scopes

    store = JobStore(store_url)
    try:
        token, secret = create_token(store, name, parse_scopes(scopes))
    finally:
        store.close()
    click.echo(f"token {token.id} ({name}; scopes {','.join(sorted(token.scopes))}); keep it, it is not shown again:", err=True)
    click.echo(secret)


@token_group.command("list")
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
def token_list_cmd(store_url: str, as_json: bool) -> None:
    """List the tokens (id, name, scopes, created, revoked); secrets are never stored, so never shown."""
    import datetime

    from zkml_cli.options import emit

    from zkml.serve.store import JobStore
    from zkml.serve.tokens import list_tokens

    store = JobStore(store_url)
    try:
        tokens = list_tokens(store)
    finally:
        store.close()
    lines = [
        f"{t.id}  {t.name:<16} {','.join(t.scopes):<14} {datetime.datetime.fromtimestamp(t.created):%Y-%m-%d %H:%M}"
        + ("  revoked" if t.revoked else "")
        for t in tokens
    ] or ["no tokens (make one with `zkml serve token create NAME`)"]
    emit({"tokens": [t.as_dict() for t in tokens]}, as_json, lines)


@token_group.command("revoke")
@click.argument("token_id")
@DB_OPTION
def token_revoke_cmd(token_id: str, store_url: str) -> None:
    """Revoke the token with id TOKEN_ID."""
    from zkml.errors import ConfigError
    from zkml.serve.store import JobStore
    from zkml.serve.tokens import revoke_token

    store = JobStore(store_url)
    try:
        if not revoke_token(store, token_id):
            raise ConfigError(f"no token {token_id}", hint="token ids are printed by `zkml serve token create`")
    finally:
        store.close()
    click.echo(f"revoked {token_id}")
