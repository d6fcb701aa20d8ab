"""The example DeFi consumer: a ForecastVault pinned to one oracle and one model.

The vault's runtime code embeds its pins (oracle, model id, policy) as
immutables, so a recorded vault is reused only when the contract at its address
reports exactly the pins asked for; a code hash alone cannot tell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import sha256_bytes
from zkml.config import ConsumerConfig
from zkml.errors import ContractRevertError, OracleError
from zkml.evm.deploy import Deployable, deploy_contract
from zkml.evm.records import Deployment
from zkml.evm.rpc import Connection, Sender, code_at, resolve_sender, transact
from zkml.evm.solc import CompiledContract
from zkml.oracle.calls import bind, view
from zkml.oracle.compile import CONSUMER_CONTRACT, FEED_CONSUMER_CONTRACT, OracleContracts, compile_contracts
from zkml.oracle.encoding import hex32


@dataclass(frozen=True)
class ConsumerState:
    """What the ForecastVault holds after acting."""

    address: str
    model_id: bytes
    target_risky_bps: int
    last_forecast_wad: int
    last_prediction_id: bytes
    last_epoch: int
    last_rebalance: int

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "address": self.address,
            "model_id": hex32(self.model_id),
            "target_risky_bps": self.target_risky_bps,
            "last_forecast_wad": self.last_forecast_wad,
            "last_forecast": self.last_forecast_wad / 1e18,
            "last_prediction_id": hex32(self.last_prediction_id),
            "last_epoch": self.last_epoch,
            "last_rebalance": self.last_rebalance,
        }


def _getters(conn: Connection, consumer: str, names: Sequence[str], contracts: OracleContracts) -> list[Any]:
    doing = f"reading the consumer at {consumer}"
    return [view(conn, contracts, contracts.consumer, consumer, name, doing=doing)[0] for name in names]


def deploy_consumer(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    record_dir: Path,
    *,
    config: ConsumerConfig | None = None,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Deployment:
    """Deploy a ForecastVault pinned to ``oracle`` and ``model_id``, or reuse the recorded one.

    Args:
        conn: the chain.
        oracle: the oracle the vault trusts.
        model_id: the model it acts on: it must be registered, and attested.
        record_dir: the folder whose deployments record holds it (a workspace).
        config: the vault's policy (neutral allocation, sensitivity in model output units,
            step cap, cooldown); the defaults when None.
        sender: the account; resolved from the environment when None.
        contracts: compiled contracts.

    Raises:
        OracleRevertError: the deployment reverted (``InvalidParameter``: e.g. the model is
            unregistered or not attested).
        ChainError: the RPC, account or transaction failed.
    """
    contracts = contracts or compile_contracts()
    config = config or ConsumerConfig()
    compiled = contracts.consumer
    checksummed = conn.w3.to_checksum_address(oracle)
    pins = (checksummed.lower(), bytes(model_id), *_policy(config))
    vault = Deployable(
        kind="consumer",
        name=CONSUMER_CONTRACT,
        creation_code=_creation_code(compiled, checksummed, model_id, config),
        runtime_sha256=sha256_bytes(compiled.deployed_bytecode),
        slot={"name": CONSUMER_CONTRACT, "oracle": checksummed, "model_id": hex32(model_id)},
        fields={"compiler": compiled.compiler.as_dict()},
        errors=contracts.errors,
    )

    def pinned(conn: Connection, deployment: Deployment) -> bool:
        if not code_at(conn, deployment.address):
            return False
        try:
            found = _getters(conn, deployment.address, PIN_GETTERS, contracts)
        except (ContractRevertError, OracleError):  # another contract at that address now (chain reset)
            return False
        return (str(found[0]).lower(), bytes(found[1]), *(int(v) for v in found[2:])) == pins

    return deploy_contract(conn, record_dir, vault, sender=sender, is_live=pinned)


PIN_GETTERS = ("oracle", "modelId", "neutralBps", "bpsPerOutputUnit", "maxStepBps", "cooldown")


def deploy_feed_consumer(
    conn: Connection,
    oracle: str,
    model_id: bytes,
    index: int,
    record_dir: Path,
    *,
    config: ConsumerConfig | None = None,
    sender: Sender | None = None,
    contracts: OracleContracts | None = None,
) -> Deployment:
    """Deploy a FeedForecastVault for feed ``index`` of a multi-feed model, or reuse the recorded one.

    It acts on that feed's prediction for that feed's latest epoch only (the policy is ForecastVault's).
    Recorded in ``record_dir/feeds/vault-<index>`` (a record holds one vault per oracle and model).

    Raises:
        OracleRevertError: ``InvalidParameter``: the model is not multi-feed, or has no feed ``index``.
        ChainError: the RPC, account or transaction failed.
    """
    from eth_abi import encode

    from zkml.oracle.multi_feed import FEEDS_DIR

    contracts = contracts or compile_contracts()
    config = config or ConsumerConfig()
    compiled = contracts.feed_consumer
    checksummed = conn.w3.to_checksum_address(oracle)
    args = encode(["address", "bytes32", "uint256", "uint16", "uint256", "uint16", "uint64"],
                  [checksummed, bytes(model_id), int(index), *_policy(config)])  # fmt: skip
    pins = (checksummed.lower(), bytes(model_id), int(index), *_policy(config))
    vault = Deployable(
        kind="consumer",
        name=FEED_CONSUMER_CONTRACT,
        creation_code=bytes(compiled.bytecode) + args,
        runtime_sha256=sha256_bytes(compiled.deployed_bytecode),
        slot={"name": FEED_CONSUMER_CONTRACT, "oracle": checksummed, "model_id": hex32(model_id)},
        fields={"compiler": compiled.compiler.as_dict()},
        errors=contracts.errors,
    )
    getters = (*PIN_GETTERS[:2], "feedIndex", *PIN_GETTERS[2:])

    def pinned(conn: Connection, deployment: Deployment) -> bool:
        if not code_at(conn, deployment.address):
            return False
        try:
            doing = f"reading the consumer at {deployment.address}"
            found = [view(conn, contracts, compiled, deployment.address, name, doing=doing)[0] for name in getters]
        except (ContractRevertError, OracleError):
            return False
        return (str(found[0]).lower(), bytes(found[1]), *(int(v) for v in found[2:])) == pins

    folder = Path(record_dir) / FEEDS_DIR / f"vault-{index}"
    return deploy_contract(conn, folder, vault, sender=sender, is_live=pinned)


def _policy(config: ConsumerConfig) -> tuple[int, int, int, int]:
    return (config.neutral_bps, config.bps_per_output_unit, config.max_step_bps, config.cooldown)


def _creation_code(compiled: CompiledContract, oracle: str, model_id: bytes, config: ConsumerConfig) -> bytes:
    """The creation code with the constructor's arguments (the vault's pins) appended."""
    from eth_abi import encode

    types = ["address", "bytes32", "uint16", "uint256", "uint16", "uint64"]
    return bytes(compiled.bytecode) + encode(types, [oracle, bytes(model_id), *_policy(config)])


def consumer_state(conn: Connection, consumer: str, *, contracts: OracleContracts | None = None) -> ConsumerState:
    """Read a ForecastVault's state.

    Raises:
        OracleError: no vault answers at ``consumer``.
        ChainError: the RPC failed.
    """
    contracts = contracts or compile_contracts()
    names = ("modelId", "targetRiskyBps", "lastForecastWad", "lastPredictionId", "lastEpoch", "lastRebalance")
    model, target, forecast, last, epoch, when = _getters(conn, consumer, names, contracts)
    address = conn.w3.to_checksum_address(consumer)
    return ConsumerState(address, bytes(model), int(target), int(forecast), bytes(last), int(epoch), int(when))


def consumer_act(
    conn: Connection, consumer: str, *, sender: Sender | None = None, contracts: OracleContracts | None = None
) -> tuple[ConsumerState, int]:
    """Let the ForecastVault rebalance on its model's prediction for the feed's latest epoch (anyone may).

    The vault reads the epoch from the model's feature source at the time of the call; a
    prediction on an older window is stored and readable but never moves the vault or starts its
    cooldown, so the order in which epochs were published cannot change what it does.

    Returns:
        The vault's state afterwards and the gas used.

    Raises:
        OracleRevertError: refused (``NotLatestEpoch``: the feed's latest epoch is not published yet;
            ``NotNewer``: the vault already acted on it; ``Stale``, ``CooldownActive``, ``NoPrediction``, ...).
    """
    contracts = contracts or compile_contracts()
    vault = bind(conn, consumer, contracts.consumer)
    data = vault.encode_abi("rebalance", args=[])
    receipt = transact(conn, sender or resolve_sender(conn), data, "the consumer's rebalance", to=vault.address, errors=contracts.errors)
    return consumer_state(conn, consumer, contracts=contracts), int(receipt["gasUsed"])


__all__ = ["ConsumerState", "consumer_act", "consumer_state", "deploy_consumer", "deploy_feed_consumer"]
