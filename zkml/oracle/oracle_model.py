"""One circuit as the oracle sees it: the single owner of its oracle-facing facts.

:class:`OracleModel` is built from a workspace and its config. It owns the
returns spec of its feature source, its input bounds, its model id, the epoch
lag, ``max_age`` and the multiplier (with one set of defaults, the config's),
and the lookups of its contracts on a chain (oracle, feature source, plain
verifier). The CLI, the keeper, the demo and the service use it, so a default
can no longer differ between registering a model and publishing for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.config import ConsumerConfig, FeedConfig
from zkml.errors import OracleError
from zkml.oracle.layout import OracleCircuit

if TYPE_CHECKING:
    from zkml.config import CircuitConfig
    from zkml.evm.rpc import Connection
    from zkml.oracle.layout import ModelSpec
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.oracle.registry import WorkspaceModel


@dataclass(frozen=True)
class OracleModel:
    """A workspace's model, its feed and consumer policy, and its deployments.

    Attributes:
        workspace: the workspace read for the oracle (settings, vk digest, instance layout).
        feed: the config's ``[feed]``, or the defaults when it has none.
        consumer: the config's ``[consumer]``, or the defaults when it has none.
    """

    workspace: WorkspaceModel
    feed: FeedConfig
    consumer: ConsumerConfig

    @classmethod
    def of(cls, circuit: OracleCircuit) -> OracleModel:
        """The oracle model of a pipeline (anything with ``ws.root`` and ``config``).

        Raises:
            OracleError: the workspace has no settings or verifying key yet.
        """
        return cls.at(Path(circuit.ws.root), circuit.config)

    @classmethod
    def at(cls, root: Path, config: CircuitConfig | None = None) -> OracleModel:
        """The oracle model of a workspace folder, with ``config``'s policy (defaults without one)."""
        from zkml.oracle.registry import workspace_model

        feed = config.feed if config is not None else None
        consumer = config.consumer if config is not None else None
        return cls(workspace_model(Path(root)), feed or FeedConfig(), consumer or ConsumerConfig())

    @property
    def root(self) -> Path:
        return self.workspace.root

    @property
    def spec(self) -> ModelSpec:
        return self.workspace.spec

    @property
    def max_epoch_lag(self) -> int:
        """How many rounds behind the feed's latest an attested epoch may be (registration and keeper)."""
        return self.feed.max_epoch_lag

    @property
    def max_age(self) -> int:
        """Seconds a published prediction stays fresh."""
        return self.consumer.max_age

    @property
    def multiplier(self) -> int:
        """The unit of the feature source's returns (100: percent)."""
        return self.feed.multiplier

    def returns_spec(self) -> ReturnsSpec:
        """How this model's feature source turns prices into its input (the source's constructor arguments)."""
        from zkml.oracle.mirror import ReturnsSpec

        return ReturnsSpec(self.spec.sample_width, self.spec.input_scale, self.feed.multiplier, self.feed.max_change_bps)

    def bounds(self) -> tuple[tuple[int, int], ...]:
        """The per-feature input bounds registration pins: calibrated ranges widened by the margin, scaled."""
        from zkml.oracle.binding import workspace_bounds

        return workspace_bounds(self.root, self.spec.input_scale, self.spec.sample_width)

    # ------------------------------------------------------------------ deployments on a chain

    def oracle_address(self, conn: Connection, explicit: str | None = None) -> str:
        """``explicit``, else the oracle this workspace's deployments record holds for the chain.

        Raises:
            OracleError: none is recorded.
        """
        from zkml.evm.records import DeploymentStore
        from zkml.oracle.compile import ORACLE_CONTRACT

        if explicit:
            return explicit
        entry = DeploymentStore.of(self.root).latest(conn.chain_id, ORACLE_CONTRACT)
        if entry is None:
            raise OracleError(
                f"no oracle recorded in {self.root} for chain {conn.chain_id}", hint="run `zkml oracle deploy` or pass --oracle"
            )
        return entry.address

    def consumer_address(self, conn: Connection, oracle: str, model_id: bytes, *, index: int | None = None) -> str | None:
        """The vault this workspace deployed for ``oracle`` and ``model_id``: its ForecastVault, or with ``index``
        the FeedForecastVault of feed ``index`` of a multi-feed model; None when none is recorded."""
        from zkml.evm.records import DeploymentStore
        from zkml.oracle.compile import CONSUMER_CONTRACT, FEED_CONSUMER_CONTRACT
        from zkml.oracle.encoding import hex32
        from zkml.oracle.multi_feed import FEEDS_DIR

        folder, name = (
            (self.root, CONSUMER_CONTRACT) if index is None else (self.root / FEEDS_DIR / f"vault-{index}", FEED_CONSUMER_CONTRACT)
        )
        entry = DeploymentStore.of(folder).latest(conn.chain_id, name, oracle=conn.w3.to_checksum_address(oracle), model_id=hex32(model_id))
        return entry.address if entry is not None else None

    def recorded_source(self, conn: Connection) -> str | None:
        """The feature source this workspace last deployed on the chain, if any."""
        from zkml.evm.records import DeploymentStore
        from zkml.oracle.compile import SOURCE_CONTRACT

        entry = DeploymentStore.of(self.root).latest(conn.chain_id, SOURCE_CONTRACT)
        return entry.address if entry is not None else None

    def model_id(self, conn: Connection, explicit: str | None = None, *, source: str | None = None, multi_feed: bool = False) -> bytes:
        """``explicit``, else the default id of this workspace's keys with ``source`` (else its recorded source,
        else its recorded multi-feed sources; those first with ``multi_feed``, when recorded)."""
        from zkml.oracle.encoding import parse_bytes32

        if explicit:
            return parse_bytes32(explicit)
        feeds = self.recorded_feed_sources(conn) if multi_feed and source is None else ()
        if feeds:
            return self.workspace.model_id_for(None, feeds=feeds)
        chosen = source or self.recorded_source(conn)
        feeds = self.recorded_feed_sources(conn) if chosen is None else ()
        return self.workspace.model_id_for(chosen, feeds=feeds)

    def recorded_feed_sources(self, conn: Connection) -> tuple[str, ...]:
        """The feature sources of this workspace's multi-feed registration on the chain (empty: none recorded)."""
        from zkml.oracle.multi_feed import recorded_feeds

        recorded = recorded_feeds(self.root, conn.chain_id)
        return recorded[1] if recorded else ()

    def plain_verifier(self, conn: Connection) -> str:
        """The newest plain verifier of this workspace whose code is on the chain.

        Raises:
            OracleError: none is recorded for this chain.
        """
        from zkml.oracle.registry import workspace_verifier

        return workspace_verifier(conn, self.root)


__all__ = ["OracleCircuit", "OracleModel"]
