"""Price feeds and the returns feature source on chain: deploy, push, read, and attest a model input.

- :func:`deploy_feed` / :func:`push_prices` run a ``PushFeed``, an owner-pushed
  AggregatorV3-compatible feed for local work (on a real chain, use a Chainlink feed);
- :func:`latest_round`, :func:`read_rounds`, :func:`feed_decimals` read any AggregatorV3 feed;
- :func:`deploy_source` / :func:`source_instances` / :func:`source_spec` deploy, ask and read a ``ReturnsFeatureSource``;
- :func:`attested_input` recomputes an epoch's input from the feed's rounds with
  :mod:`zkml.oracle.mirror`, independently of the source contract: the prover's input,
  and what the source must answer for it.

Both contracts hold their parameters as immutables, so a recorded deployment is
reused only when the contract at its address reads back the parameters asked for
(as :mod:`zkml.oracle.consumer` does for the vault). A record folder holds one feed
and one source per chain (``deployments.json`` tells same-kind deployments apart only
by the fields :class:`~zkml.evm.records.Deployment` has): deploying one with other
parameters replaces the recorded one. That suits a workspace (one model, one input),
and a fresh record folder always gives a fresh feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.artifacts import sha256_bytes
from zkml.errors import ContractRevertError, OracleError
from zkml.evm.deploy import Deployable, deploy_contract
from zkml.evm.records import Deployment
from zkml.evm.rpc import Connection, Sender, resolve_sender, transact
from zkml.oracle.attest import epoch_problem
from zkml.oracle.calls import bind
from zkml.oracle.compile import FEED_CONTRACT, SOURCE_CONTRACT, OracleContracts, compile_contracts
from zkml.oracle.feed_calls import FEED_HINTS
from zkml.oracle.feed_calls import feed_errors as _errors
from zkml.oracle.feed_calls import feed_view as _view
from zkml.oracle.feed_calls import pinned as _pinned
from zkml.oracle.mirror import INT192_MAX, MAX_SKIPPED, ReturnsSpec, check_breaker, input_values, window_instances

if TYPE_CHECKING:
    from web3.contract import Contract

# PushFeed's constructor refuses more.
MAX_DECIMALS = 36
# A pushed round costs ~25k gas (a new storage slot and two events): 512 stay well under a 30M block.
MAX_CHUNK = 512
# A round id is phase << 64 | round within the phase (Chainlink proxies); epochs stay inside one phase.
PHASE_MASK = 2**64 - 1
UINT80_MAX = 2**80 - 1
# The source's immutables a ReturnsSpec pins, in ReturnsSpec's field order after the feed.
SOURCE_GETTERS = ("feed", "window", "inputScale", "multiplier", "maxChangeBps")


@dataclass(frozen=True)
class Round:
    """One round of an AggregatorV3 feed.

    Attributes:
        round_id: the round (an epoch of a returns feature source).
        answer: the feed's integer answer (``price * 10**decimals``).
        updated_at: when it was published (seconds).
    """

    round_id: int
    answer: int
    updated_at: int

    def as_dict(self) -> dict[str, int]:
        """Plain-JSON form."""
        return {"round_id": self.round_id, "answer": self.answer, "updated_at": self.updated_at}


@dataclass(frozen=True)
class FeedPush:
    """Rounds pushed to a PushFeed.

    Attributes:
        first_round, last_round: the round ids the answers got (consecutive).
        gas_used: gas of all the transactions.
        tx_hashes: one ``pushMany`` per chunk.
    """

    first_round: int
    last_round: int
    gas_used: int
    tx_hashes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "first_round": self.first_round,
            "last_round": self.last_round,
            "gas_used": self.gas_used,
            "tx_hashes": list(self.tx_hashes),
        }


@dataclass(frozen=True)
class AttestedInput:
    """A model input at one epoch, recomputed from the feed's rounds as the feature source computes it.

    Attributes:
        epoch: the round id E.
        instances: the input instances (BN254 field elements), what the source answers for E.
        values: ``q / 2**scale`` per instance, the prover's input (exact floats).
        timestamp: round E's updatedAt (the source's timestamp for E).
        prices: the answers of the window's rounds (the latest window + 1 good rounds up to E), oldest first.
    """

    epoch: int
    instances: tuple[int, ...]
    values: tuple[float, ...]
    timestamp: int
    prices: tuple[int, ...]

    def input_data(self) -> dict[str, Any]:
        """The prover's input file content (ezkl's ``input_data`` format, one sample)."""
        return {"input_data": [list(self.values)]}

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "epoch": self.epoch,
            "instances": list(self.instances),
            "values": list(self.values),
            "timestamp": self.timestamp,
            "prices": list(self.prices),
        }


def deploy_feed(
    conn: Connection,
    record_dir: Path,
    *,
    decimals: int = 8,
    description: str = "zkml local feed",
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Deployment:
    """Deploy a PushFeed (the sender owns it), or reuse the recorded one with these decimals and description.

    Args:
        conn: the chain.
        record_dir: the folder whose deployments record holds it (a fresh folder gives a fresh feed).
        decimals: answers are ``price * 10**decimals`` (Chainlink: 8 for USD pairs, 18 for ETH pairs).
        description: the feed's name (``ETH / USD``).
        sender: the account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleError: decimals outside 0..36.
        ChainError: the RPC, account or transaction failed.
    """
    if not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
        raise OracleError(f"feed decimals must be 0..{MAX_DECIMALS}, not {decimals!r}", hint="Chainlink feeds use 8 or 18")
    from eth_abi import encode

    contracts = contracts or compile_contracts()
    compiled = contracts.feed
    feed = Deployable(
        kind="feed",
        name=FEED_CONTRACT,
        creation_code=bytes(compiled.bytecode) + encode(["uint8", "string"], [decimals, description]),
        runtime_sha256=sha256_bytes(compiled.deployed_bytecode),
        slot={"name": FEED_CONTRACT},
        fields={"compiler": compiled.compiler.as_dict()},
        errors=_errors(contracts),
    )
    is_live = _pinned(contracts, compiled, ("decimals", "description"), (decimals, description))
    return deploy_contract(conn, record_dir, feed, sender=sender, is_live=is_live)


def deploy_feeds(
    conn: Connection, record_dir: Path, count: int, *, decimals: int = 8, description: str = "zkml local feed", sender: Sender | None = None
) -> list[tuple[str, Path, Deployment]]:
    """``count`` PushFeeds (one is :func:`deploy_feed` in ``record_dir``; more are named ``DESCRIPTION #k`` and
    recorded in ``record_dir/feed-k``, since a record holds one feed per chain); (name, record folder, deployment) each."""
    from zkml.workspace import Layout

    names = (
        [(description, Path(record_dir))]
        if count == 1
        else [(f"{description} #{k}", Path(record_dir) / f"feed-{k}") for k in range(1, count + 1)]
    )
    return [
        (name, Layout(folder).deployments, deploy_feed(conn, folder, decimals=decimals, description=name, sender=sender))
        for name, folder in names
    ]


def _check_answers(answers: Sequence[int], chunk: int) -> list[int]:
    if not 1 <= chunk <= MAX_CHUNK:
        raise OracleError(f"chunk must be 1..{MAX_CHUNK}, not {chunk}", hint="a chunk is one pushMany transaction")
    if not answers:
        raise OracleError("no answers to push")
    for answer in answers:
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 < answer <= INT192_MAX:
            # Checked before sending anything, so a bad value never leaves half the rounds pushed.
            raise OracleError(f"feed answer {answer!r} is not a positive int192", hint=FEED_HINTS["AnswerOutOfRange"])
    return [int(a) for a in answers]


def push_prices(
    conn: Connection,
    feed: str,
    answers: Sequence[int],
    *,
    sender: Sender | None = None,
    chunk: int = 128,
    contracts: OracleContracts | None = None,
) -> FeedPush:
    """Push integer answers to a PushFeed as new rounds, ``chunk`` per ``pushMany`` transaction.

    Args:
        conn: the chain.
        feed: the PushFeed.
        answers: the answers (``price * 10**decimals``; see :func:`zkml.oracle.mirror.answer_of`), positive, oldest first.
        sender: the feed's owner; resolved from the environment when None.
        chunk: answers per transaction (one block time for each chunk's rounds).
        contracts: compiled contracts.

    Raises:
        OracleError: an answer not positive or beyond int192, a bad chunk, no answers, or the sender does not own the feed.
        ChainError: the RPC, account or transaction failed.
    """
    from web3.logs import DISCARD

    values = _check_answers(answers, chunk)
    contracts = contracts or compile_contracts()
    sender = sender or resolve_sender(conn)
    contract = bind(conn, feed, contracts.feed)
    (owner,) = _view(conn, contracts, contracts.feed, feed, "owner", doing=f"reading the owner of feed {feed}", bound=contract)
    if str(owner).lower() != sender.address.lower():
        raise OracleError(f"{sender.address} does not own feed {contract.address} (its owner is {owner})", hint=FEED_HINTS["NotOwner"])
    rounds: list[int] = []
    gas, hashes = 0, []
    for start in range(0, len(values), chunk):
        data = contract.encode_abi("pushMany", args=[values[start : start + chunk]])
        receipt = transact(conn, sender, data, f"pushing rounds to feed {contract.address}", to=contract.address, errors=_errors(contracts))
        # DISCARD: the receipt's AnswerUpdated logs are not NewRound ones, and are no error.
        rounds += [int(entry["args"]["roundId"]) for entry in contract.events.NewRound().process_receipt(receipt, errors=DISCARD)]
        gas += int(receipt["gasUsed"])
        hashes.append("0x" + bytes(receipt["transactionHash"]).hex())
    if len(rounds) != len(values):
        raise OracleError(f"pushed {len(values)} answers to feed {contract.address} but it reported {len(rounds)} new rounds")
    return FeedPush(rounds[0], rounds[-1], gas, tuple(hashes))


def feed_decimals(conn: Connection, feed: str, *, contracts: OracleContracts | None = None) -> int:
    """The feed's ``decimals()``.

    Raises:
        OracleError: no AggregatorV3 feed answers at ``feed``.
    """
    contracts = contracts or compile_contracts()
    return int(_view(conn, contracts, contracts.feed, feed, "decimals", doing=f"reading the decimals of feed {feed}")[0])


def _round(raw: Sequence[Any]) -> Round:
    round_id, answer, _started, updated_at, _answered_in = raw
    return Round(int(round_id), int(answer), int(updated_at))


def _absent(exc: ContractRevertError, feed: str) -> OracleError:
    return OracleError(f"feed {feed} has no round {exc.values[0] if exc.values else '?'}", hint=FEED_HINTS["NoDataPresent"])


def latest_round(conn: Connection, feed: str, *, contracts: OracleContracts | None = None) -> Round:
    """The feed's latest round (``latestRoundData``).

    Raises:
        OracleError: the feed has no round yet, or no feed answers at ``feed``.
    """
    contracts = contracts or compile_contracts()
    try:
        return _round(_view(conn, contracts, contracts.feed, feed, "latestRoundData", doing=f"reading feed {feed}"))
    except ContractRevertError as exc:
        if exc.error != "NoDataPresent":
            raise
        raise _absent(exc, feed) from exc


def latest_epoch(conn: Connection, feed: str, *, contracts: OracleContracts | None = None) -> int:
    """The newest epoch of a returns feature source over ``feed``: its latest round id (as ``latestEpoch()``).

    Raises:
        OracleError: the feed has no round yet.
    """
    return latest_round(conn, feed, contracts=contracts).round_id


def read_rounds(conn: Connection, feed: str, first: int, last: int, *, contracts: OracleContracts | None = None) -> list[Round]:
    """Rounds ``first`` .. ``last`` (inclusive) of the feed, one ``getRoundData`` each.

    Raises:
        OracleError: an empty or invalid range, or a round the feed does not have.
    """
    if not 0 <= first <= last <= UINT80_MAX:
        raise OracleError(f"rounds {first}..{last} are not a range of round ids", hint="give first <= last, both uint80")
    contracts = contracts or compile_contracts()
    contract = bind(conn, feed, contracts.feed)
    rounds = []
    for round_id in range(first, last + 1):
        doing = f"reading round {round_id} of feed {feed}"
        try:
            raw = _view(conn, contracts, contracts.feed, feed, "getRoundData", round_id, doing=doing, bound=contract)
        except ContractRevertError as exc:
            if exc.error != "NoDataPresent":
                raise
            raise _absent(exc, feed) from exc
        rounds.append(_round(raw))
    return rounds


def deploy_source(
    conn: Connection,
    record_dir: Path,
    feed: str,
    spec: ReturnsSpec,
    *,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Deployment:
    """Deploy a ReturnsFeatureSource over ``feed``, or reuse the recorded one with the same feed and spec.

    Args:
        conn: the chain.
        record_dir: the folder whose deployments record holds it (a workspace).
        feed: the AggregatorV3 feed (a PushFeed, or a Chainlink feed or proxy).
        spec: window, input scale, multiplier and circuit breaker (``max_change_bps``, 0: off).
        sender: the account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleRevertError: the constructor refused (``InvalidParameter``: no contract at ``feed``).
        ChainError: the RPC, account or transaction failed.
    """
    from eth_abi import encode

    contracts = contracts or compile_contracts()
    compiled = contracts.source
    checksummed = conn.w3.to_checksum_address(feed)
    values = [checksummed, spec.window, spec.scale, spec.multiplier, spec.max_change_bps]
    args = encode(["address", "uint256", "uint8", "uint256", "uint256"], values)
    source = Deployable(
        kind="source",
        name=SOURCE_CONTRACT,
        creation_code=bytes(compiled.bytecode) + args,
        runtime_sha256=sha256_bytes(compiled.deployed_bytecode),
        slot={"name": SOURCE_CONTRACT},
        fields={"compiler": compiled.compiler.as_dict()},
        errors=_errors(contracts),
    )
    is_live = _pinned(contracts, compiled, SOURCE_GETTERS, (checksummed.lower(), *values[1:]))
    return deploy_contract(conn, record_dir, source, sender=sender, is_live=is_live)


def source_spec(conn: Connection, source: str, *, contracts: OracleContracts | None = None) -> tuple[str, ReturnsSpec]:
    """The feed a ReturnsFeatureSource reads and its parameters, read from its immutables (what it attests with).

    Raises:
        OracleError: no returns feature source of this version answers at ``source``, or its values are out of bounds.
    """
    contracts = contracts or compile_contracts()
    bound = bind(conn, source, contracts.source)
    doing = f"reading the feature source {source}"
    feed, *values = (_view(conn, contracts, contracts.source, source, g, doing=doing, bound=bound)[0] for g in SOURCE_GETTERS)
    return conn.w3.to_checksum_address(feed), ReturnsSpec(*(int(v) for v in values))


def source_instances(
    conn: Connection, source: str, epochs: Sequence[int], *, contracts: OracleContracts | None = None
) -> tuple[list[int], list[int]]:
    """What the feature source attests for ``epochs``: their input instances (concatenated) and timestamps.

    Raises:
        OracleRevertError: ``NoEpochs``, ``EpochOutOfRange`` (E <= window, or beyond uint80), ``BadRound`` or
            ``CircuitBreaker`` (E's window holds a change above ``maxChangeBps``).
        ChainError: the RPC failed.
    """
    contracts = contracts or compile_contracts()
    doing = f"reading the feature source {source}"
    instances, timestamps = _view(conn, contracts, contracts.source, source, "instancesAt", [int(e) for e in epochs], doing=doing)
    return [int(v) for v in instances], [int(t) for t in timestamps]


def _good(r: Round, wanted: int) -> bool:
    """The source's per-round check: the round answers its own id, with a positive int192 price, completed."""
    return r.round_id == wanted and 0 < r.answer <= INT192_MAX and r.updated_at != 0


def _round_or_none(conn: Connection, contracts: OracleContracts, feed: str, round_id: int, bound: Contract) -> Round | None:
    """Round ``round_id``, or None where the feed reverts (the source's try/catch reads any revert as a bad round)."""
    try:
        raw = _view(
            conn, contracts, contracts.feed, feed, "getRoundData", round_id, doing=f"reading round {round_id} of feed {feed}", bound=bound
        )
    except ContractRevertError:
        return None
    return _round(raw)


def _window_rounds(conn: Connection, contracts: OracleContracts, feed: str, epoch: int, window: int) -> list[Round]:
    """The source's walk: the latest ``window + 1`` good rounds up to ``epoch`` (which must be good), oldest first."""
    bound = bind(conn, feed, contracts.feed)
    good: list[Round] = []
    skipped = 0
    round_id = epoch
    while len(good) <= window:
        if round_id & PHASE_MASK == 0:
            raise OracleError(
                f"epoch {epoch} has no complete window of {window} returns: its feed phase holds too few good rounds before it",
                hint=FEED_HINTS["EpochOutOfRange"],
            )
        r = _round_or_none(conn, contracts, feed, round_id, bound)
        if r is not None and _good(r, round_id):
            good.append(r)
        elif round_id == epoch:
            if r is None:
                latest = latest_epoch(conn, feed, contracts=contracts)
                where = f"epoch {epoch} is past the feed's latest epoch {latest}" if epoch > latest else f"its latest epoch is {latest}"
                raise OracleError(f"feed {feed} has no round {epoch} ({where})", hint=FEED_HINTS["NoDataPresent"])
            raise OracleError(
                f"round {epoch} of feed {feed} is unusable (id {r.round_id}, answer {r.answer}, updated at {r.updated_at})",
                hint=FEED_HINTS["BadRound"],
            )
        else:
            skipped += 1
            if skipped > MAX_SKIPPED:
                raise OracleError(
                    f"the window of epoch {epoch} meets more than {MAX_SKIPPED} bad rounds (the last: round {round_id} of feed {feed})",
                    hint=FEED_HINTS["BadRound"],
                )
        round_id -= 1
    return good[::-1]


def attested_input(
    conn: Connection, feed: str, epoch: int, spec: ReturnsSpec, *, contracts: OracleContracts | None = None
) -> AttestedInput:
    """The model input at ``epoch``, recomputed from the feed's rounds by :mod:`zkml.oracle.mirror`.

    It walks back from round ``epoch`` over RPC as the source does (a bad round inside
    the window is skipped: the window is the latest ``window + 1`` good rounds up to the
    epoch, at most ``MAX_SKIPPED`` skipped) and applies the source's arithmetic in Python,
    without asking the source contract: an independent recomputation of what it attests.
    With ``spec.max_change_bps`` it refuses the epochs the source's circuit breaker refuses.

    Raises:
        OracleError: an epoch too early (``epoch <= window`` within its phase, or too few good rounds before it in its
            phase) or beyond uint80, round ``epoch`` absent or unusable (non-positive answer, incomplete), more than
            ``MAX_SKIPPED`` bad rounds in the window, a value not exact as a float (``|q| >= 2**53``), or a change between
            consecutive rounds of the window above ``spec.max_change_bps`` (the message names the epoch and the round).
        ChainError: the RPC failed.
    """
    problem = epoch_problem(epoch)
    if problem is not None or (epoch & PHASE_MASK) <= spec.window:
        first = (epoch & ~PHASE_MASK) + spec.window + 1 if problem is None else spec.window + 1
        raise OracleError(
            problem or f"epoch {epoch} has no complete window of {spec.window} returns: the first epoch with one is {first}",
            hint=f"an epoch is a round id above {spec.window} (its first round, epoch - {spec.window}, must exist)",
        )
    contracts = contracts or compile_contracts()
    rounds = _window_rounds(conn, contracts, feed, epoch, spec.window)
    prices = tuple(r.answer for r in rounds)
    check_breaker(epoch, [r.round_id for r in rounds], prices, spec)
    instances = tuple(window_instances(prices, spec))
    values = tuple(input_values(instances, spec.scale))
    return AttestedInput(epoch, instances, values, rounds[-1].updated_at, prices)


__all__ = [
    "AttestedInput",
    "FeedPush",
    "Round",
    "attested_input",
    "deploy_feed",
    "deploy_feeds",
    "deploy_source",
    "feed_decimals",
    "latest_epoch",
    "latest_round",
    "push_prices",
    "read_rounds",
    "source_instances",
    "source_spec",
]
