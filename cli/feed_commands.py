"""``zkml feed``: deploy a local price feed (PushFeed), push prices to it, read its rounds.

Thin wrappers over :mod:`zkml.oracle.feed`. Prices are human numbers (``1834.25``),
turned into the feed's integer answers exactly with its ``decimals()``. The feed is
recorded in ``RECORD_DIR/deployments.json`` like every zkml deployment; keys come
only from the environment or a keystore, as for ``zkml deploy``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from zkml_cli.options import EXISTING_FILE, PATH, chain_connection, emit, json_flag

if TYPE_CHECKING:
    from zkml.evm.rpc import Connection, Sender


@click.group("feed")
def feed_group() -> None:
    """A local AggregatorV3-compatible price feed for attested model inputs (on a real chain, use a Chainlink feed)."""


@feed_group.command("deploy")
@click.option("--decimals", type=int, default=8, show_default=True, help="Answers are price * 10**decimals.")
@click.option("--description", default="zkml local feed", show_default=True, help="The feed's name, e.g. 'ETH / USD'.")
@click.option("--record-dir", type=PATH, default=Path("."), show_default=True, help="Folder of the deployments.json it is recorded in.")
@click.option(
    "--count",
    type=click.IntRange(min=1, max=256),
    default=1,
    show_default=True,
    help="Deploy this many feeds (for a multi-feed model): feed k is named 'DESCRIPTION #k' and recorded in RECORD_DIR/feed-k.",
)
@chain_connection(sender=True)
@json_flag
def deploy_cmd(decimals: int, description: str, record_dir: Path, count: int, conn: Connection, sender: Sender, as_json: bool) -> None:
    """Deploy a PushFeed owned by the sender (or reuse the recorded one with these decimals and description)."""
    from zkml.oracle.feed import deploy_feeds

    feeds = deploy_feeds(conn, record_dir, count, decimals=decimals, description=description, sender=sender)
    lines = []
    for name, folder, feed in feeds:
        state = "reused" if feed.reused else f"deployed (gas {feed.gas_used:,})"
        lines.append(f"feed {feed.address} ({name!r}, {decimals} decimals) on chain {conn.chain_id}: {state}, recorded in {folder}")
    items = [{**feed.as_dict(), "reused": feed.reused, "decimals": decimals, "description": name} for name, _, feed in feeds]
    emit(items[0] if count == 1 else {"feeds": items}, as_json, lines)


def _file_prices(path: Path) -> list[Any]:
    """A JSON list of prices, or a text file with one price per line (blank lines and # comments skipped)."""
    from decimal import Decimal

    from zkml.errors import ConfigError

    text = path.read_text()
    try:
        # Decimal keeps a JSON 1834.1 exactly the number written.
        data = json.loads(text, parse_float=Decimal)
    except ValueError:
        data = None
    if isinstance(data, list):
        if not all(isinstance(v, (int, str, Decimal)) and not isinstance(v, bool) for v in data):
            raise ConfigError(f"{path} must list numbers", hint='e.g. [1834.25, 1840.5] or "1834.25" strings')
        return data
    return [s for line in text.splitlines() if (s := line.split("#", 1)[0].strip())]


@feed_group.command("push")
@click.argument("feed")
@click.argument("prices", nargs=-1)
@click.option("--file", "price_file", type=EXISTING_FILE, default=None, help="JSON list of prices, or a text file with one per line.")
@click.option(
    "--series",
    "series_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Push a circuit folder's [feed] demo_series (e.g. circuits/mlp_regressor): its last --rounds prices.",
)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="--series: end this many prices early.")
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="--series: how many prices (default: [feed] demo_rounds).")
@chain_connection(sender=True)
@json_flag
def push_cmd(feed: str, prices: tuple[str, ...], price_file: Path | None, series_dir: Path | None, offset: int, rounds: int | None,
             conn: Connection, sender: Sender, as_json: bool) -> None:  # fmt: skip
    """Push PRICES (human numbers, oldest first) to FEED as new rounds (owner only).

    With --series, a circuit's example price series instead; feeds pushed with different --offset
    hold different windows at each round (the assets of a multi-feed model).
    """
    from zkml.oracle.demo import series_prices
    from zkml.oracle.feed import feed_decimals, push_prices
    from zkml.oracle.mirror import answer_of

    if sum(1 for given in (prices, price_file, series_dir) if given) != 1:
        raise click.UsageError("give PRICE..., --file or --series (one of them)")
    if series_dir is not None:
        given: list[Any] = list(series_prices(series_dir, offset=offset, rounds=rounds))
    else:
        given = list(prices) if prices else _file_prices(price_file) if price_file else []
    if not given:
        raise click.UsageError(f"{price_file} holds no prices")
    decimals = feed_decimals(conn, feed)
    answers = [answer_of(price, decimals) for price in given]
    pushed = push_prices(conn, feed, answers, sender=sender)
    span = f"round {pushed.first_round}" if pushed.first_round == pushed.last_round else f"rounds {pushed.first_round}..{pushed.last_round}"
    line = f"pushed {len(answers)} price(s) to feed {feed}: {span} (gas {pushed.gas_used:,}, {len(pushed.tx_hashes)} tx)"
    emit({**pushed.as_dict(), "answers": answers, "decimals": decimals}, as_json, [line])


@feed_group.command("read")
@click.argument("feed")
@click.option("--round", "round_id", type=click.IntRange(min=0), default=None, help="Read this round.")
@click.option("--last", type=click.IntRange(min=1), default=None, help="Read the latest LAST rounds (default: the latest one).")
@chain_connection
@json_flag
def read_cmd(feed: str, round_id: int | None, last: int | None, conn: Connection, as_json: bool) -> None:
    """Read FEED's latest round, one round (--round), or the latest few (--last)."""
    from zkml.oracle.feed import feed_decimals, latest_round, read_rounds
    from zkml.oracle.mirror import price_of

    if round_id is not None and last is not None:
        raise click.UsageError("give --round or --last, not both")
    decimals = feed_decimals(conn, feed)
    if round_id is not None:
        rounds = read_rounds(conn, feed, round_id, round_id)
    else:
        newest = latest_round(conn, feed)
        # A proxy's round ids are phase << 64 | n: stay inside the latest phase.
        first = max((newest.round_id >> 64 << 64) + 1, newest.round_id - (last or 1) + 1)
        rounds = read_rounds(conn, feed, first, newest.round_id) if last else [newest]
    payload = {
        "feed": feed,
        "decimals": decimals,
        "rounds": [{**r.as_dict(), "price": str(price_of(r.answer, decimals))} for r in rounds],
    }
    lines = [f"round {r.round_id}: {price_of(r.answer, decimals)} (answer {r.answer}, updated at {r.updated_at})" for r in rounds]
    emit(payload, as_json, lines)
