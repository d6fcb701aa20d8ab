"""Steps the oracle tests share: register, publish, submit raw calldata, push prices, deploy a vault, move time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zkml import oracle as orc
from zkml.config import ConsumerConfig
from zkml.evm.onchain import read_proof
from zkml.evm.rpc import Sender, transact
from zkml.workspace import Layout

from .conftest import Market, World

# Wide enough for every test that pushes a few flat rounds after the session's epoch L.
EPOCH_LAG = 16


def ws(circuit: Any) -> Path:
    return Path(circuit.pipeline.ws.root)


def proof_of(circuit: Any) -> Path:
    return Layout(ws(circuit)).proof


def register(w: World, circuit: Any, verifier: str, **kwargs: Any) -> orc.Registration:
    """Register a workspace's model UNATTESTED (the submitter chooses the inputs), with its calibrated bounds."""
    return orc.register_workspace(w.conn, w.oracle, ws(circuit), verifier=verifier, sender=w.owner, contracts=w.contracts, **kwargs)


def register_attested(w: World, mlp: Any, market: Market, **kwargs: Any) -> orc.Registration:
    """Register the mlp model ATTESTED by the market's feature source."""
    kwargs.setdefault("max_epoch_lag", EPOCH_LAG)
    return register(w, mlp, w.mlp_verifier, feature_source=market.source, **kwargs)


def publish(w: World, model_id: bytes, proof: Path, *, sender: Sender | None = None, **kwargs: Any) -> orc.Publication:
    return orc.publish(w.conn, w.oracle, model_id, proof, sender=sender or w.owner, contracts=w.contracts, **kwargs)


def read(w: World, model_id: bytes, **kwargs: Any) -> orc.Prediction:
    return orc.read_prediction(w.conn, w.oracle, model_id, contracts=w.contracts, **kwargs)[0]


def contract(w: World) -> Any:
    return w.conn.w3.eth.contract(address=w.oracle, abi=w.contracts.oracle.abi_list)


def send(w: World, data: str, doing: str, *, sender: Sender | None = None, to: str | None = None) -> Any:
    """Send calldata to the oracle (as the owner by default), errors decoded (what a hand-made transaction meets)."""
    return transact(w.conn, sender or w.owner, data, doing, to=to or w.oracle, errors=w.contracts.errors)


def submit_raw(
    w: World,
    model_id: bytes,
    proof: Path,
    instances: list[int] | None = None,
    *,
    epochs: list[int] | None = None,
    sender: Sender | None = None,
) -> Any:
    """Submit with substituted instances or epochs (what an attacker controls)."""
    data = orc.submit_calldata(contract(w), model_id, read_proof(proof), instances=instances, epochs=epochs)
    return send(w, data, "submitting the proof", sender=sender)


def oracle_view(w: World, fn: str, *args: Any) -> Any:
    return getattr(contract(w).functions, fn)(*args).call()


def set_max_age(w: World, model_id: bytes, seconds: int) -> None:
    send(w, contract(w).encode_abi("setMaxAge", args=[model_id, seconds]), "changing maxAge")


def push_flat(w: World, market: Market, rounds: int) -> int:
    """Push ``rounds`` copies of the feed's last price (a flat market); returns the new latest epoch."""
    from zkml.oracle.feed import latest_round, push_prices

    last = latest_round(w.conn, market.feed, contracts=w.contracts)
    return push_prices(w.conn, market.feed, [last.answer] * rounds, sender=w.owner, contracts=w.contracts).last_round


def vault(w: World, model_id: bytes, folder: Path, config: ConsumerConfig | None = None) -> str:
    return orc.deploy_consumer(w.conn, w.oracle, model_id, folder, config=config, sender=w.owner, contracts=w.contracts).address


def rebalance(w: World, consumer: str, sender: Sender | None = None) -> orc.ConsumerState:
    return orc.consumer_act(w.conn, consumer, sender=sender or w.stranger, contracts=w.contracts)[0]


def increase_time(w: World, seconds: int) -> None:
    w.conn.w3.provider.make_request("evm_increaseTime", [seconds])
    w.conn.w3.provider.make_request("evm_mine", [])


def expected_target(previous: int, forecast_wad: int, policy: ConsumerConfig) -> tuple[int, int]:
    """ForecastVault's (desired, stepped) allocation for a forecast, as the contract computes it."""
    product = forecast_wad * policy.bps_per_output_unit
    shift = abs(product) // 10**18 * (1 if product >= 0 else -1)  # Solidity's division truncates toward zero
    desired = min(10_000, max(0, policy.neutral_bps + shift))
    step = max(-policy.max_step_bps, min(policy.max_step_bps, desired - previous))
    return desired, previous + step


def register_batched(w: World, batched_tiny: Any, tiny: Any, folder: Path) -> orc.Registration:
    """Deploy the batch-2 tiny circuit's plain verifier and register it unattested (model id 0x0b...)."""
    from zkml.oracle.binding import workspace_bounds
    from zkml.proving.batch import deploy_batch_verifier

    spec = orc.model_spec(batched_tiny.circuit.spec.circuit.settings.path)  # batch.json next to it says B=2
    deployed = deploy_batch_verifier(w.conn, batched_tiny.circuit.spec, folder, kind="plain")
    # The batch-1 circuit's calibrated ranges, at the same input scale: one bound per feature of a sample.
    bounds = workspace_bounds(ws(tiny), spec.input_scale, spec.sample_width)
    return orc.register_model(w.conn, w.oracle, b"\x0b" * 32, deployed.address, spec, bounds=bounds, sender=w.owner, contracts=w.contracts)
