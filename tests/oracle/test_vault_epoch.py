"""Issue 22, item 2: the vault acts on the feed's latest epoch, never on the publisher's choice of window.

The oracle stores any epoch within ``maxEpochLag`` of the feed, so whoever publishes first picks
which windows are stored. The audit published epoch 46 (the most negative forecast of 44..48)
before the keeper, triggered the vault with it, and the keeper's epoch 48 then hit
``CooldownActive``. Now ``rebalance()`` reads the feature source's ``latestEpoch()`` and acts only
on the stored prediction for exactly that epoch: an older window is stored and readable, but it
never moves the vault nor starts its cooldown (``NotLatestEpoch``).
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zkml import oracle as orc
from zkml.config import ConsumerConfig
from zkml.errors import OracleRevertError
from zkml.evm.rpc import Sender

from .conftest import Market, World, copy_workspace
from .steps import expected_target, increase_time, oracle_view, publish, push_flat, read, rebalance, register_attested, vault

# The demo feed's last epochs, as in the audit (the market's feed holds the same 48 demo rounds).
OLDER = (44, 45, 46, 47)
# The audit's vault: one step reaches any target of these forecasts, and the cooldown is 300 s.
POLICY = ConsumerConfig(neutral_bps=5_000, bps_per_output_unit=2_000, max_step_bps=10_000, cooldown=300)
# A vault whose step cap binds: two applied forecasts end elsewhere than one.
CAPPED = ConsumerConfig(neutral_bps=5_000, bps_per_output_unit=1_000_000, max_step_bps=100, cooldown=300)


@dataclass(frozen=True)
class Windows:
    """Attested mlp proofs on the feed's windows at epochs 44..48 (48 is the market's own proof)."""

    proofs: dict[int, Path]


@pytest.fixture(scope="module")
def windows(market: Market, world: World, mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Windows:
    """Prove epochs 44..47 once for the module (reads the feed only: nothing is deployed)."""
    from zkml.oracle.attest import prove_attested
    from zkml.oracle.feed import attested_input
    from zkml.oracle.registry import workspace_model
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    assert market.latest == 48, "the demo feed holds 48 rounds; the audit's epochs are 44..48"
    root = tmp_path_factory.mktemp("windows")
    prover = Pipeline(mlp.pipeline.config, Workspace(copy_workspace(market.prover_build / mlp.workspace.name, root / "build")))
    model = workspace_model(mlp.workspace)
    proofs = {market.latest: market.proof}
    for epoch in OLDER:
        attested = attested_input(world.conn, market.feed, epoch, market.spec, contracts=world.contracts)
        proofs[epoch] = root / f"epoch_{epoch}.proof.json"
        shutil.copyfile(prove_attested(prover, attested, model.spec, market.bounds), proofs[epoch])
    return Windows(proofs)


def _snapshot(w: World) -> str:
    return str(w.conn.w3.provider.make_request("evm_snapshot", [])["result"])


def _revert(w: World, snap: str) -> None:
    assert w.conn.w3.provider.make_request("evm_revert", [snap])["result"] is True


def _outcome(state: orc.ConsumerState) -> tuple[int, int, bytes, int]:
    """What the vault holds, all but the time of its last rebalance (the clock, not the data)."""
    return state.target_risky_bps, state.last_forecast_wad, state.last_prediction_id, state.last_epoch


def _attack(w: World, model_id: bytes, consumer: str, windows: Windows, order: tuple[int, ...], attacker: Sender) -> None:
    """The attacker publishes ``order`` and triggers the vault after each publication."""
    for k, epoch in enumerate(order):
        publish(w, model_id, windows.proofs[epoch], epochs=[epoch], sender=attacker)
        try:
            rebalance(w, consumer, sender=attacker)
        except OracleRevertError as exc:  # an older window: stored, refused by the vault
            newest = max(order[: k + 1])
            expected = ("NotNewer", (48, 48)) if newest == 48 else ("NotLatestEpoch", (newest, 48))
            assert (exc.error, exc.values) == expected, (order, epoch)
        else:
            assert epoch == 48, f"the vault acted on epoch {epoch} while the feed's latest is 48 (order {order})"


def _keeper(w: World, model_id: bytes, consumer: str, windows: Windows) -> orc.ConsumerState:
    """The keeper publishes 48 (unless the attacker already did) and triggers the vault."""
    if not oracle_view(w, "isEpochPublished", model_id, 48):
        publish(w, model_id, windows.proofs[48], epochs=[48])
    try:
        return rebalance(w, consumer, sender=w.owner)
    except OracleRevertError as exc:
        assert exc.error == "NotNewer" and exc.values == (48, 48), exc  # the attacker's own call already applied 48
        return orc.consumer_state(w.conn, consumer, contracts=w.contracts)


ORDERS = (
    *itertools.permutations(OLDER),  # every order of all four older windows
    *((e,) for e in OLDER),  # each alone: the audit's attack is (46,)
    (46, 44),
    (47, 45),
    (44, 46, 47),
    (46, 48),  # the attacker also publishes (and triggers) 48 itself
    (47, 48, 46, 44),
)
# With the step cap binding, two applied forecasts end elsewhere than one: every kind of order, fewer permutations.
CAPPED_ORDERS = ORDERS[:1] + ORDERS[-1:-10:-1]


@pytest.mark.parametrize(("policy", "orders"), [(POLICY, ORDERS), (CAPPED, CAPPED_ORDERS)], ids=["audit_policy", "capped"])
def test_no_publication_order_changes_what_the_vault_does(
    policy: ConsumerConfig, orders: tuple[tuple[int, ...], ...], windows: Windows, market: Market, chain: World, mlp: Any, tmp_path: Path
) -> None:
    reg = register_attested(chain, mlp, market, max_epoch_lag=4)
    consumer = vault(chain, reg.model_id, tmp_path, policy)
    forecasts = {}
    for epoch, proof in windows.proofs.items():  # each window's forecast, published once to read it
        snap = _snapshot(chain)
        p = publish(chain, reg.model_id, proof, epochs=[epoch]).prediction
        forecasts[epoch] = orc.to_wad(p.values[0], p.scale)
        _revert(chain, snap)
    # The audit's series had 46 as the most negative and 48 positive; any series with an older
    # window unlike 48 shows the attack.
    assert any(forecasts[e] != forecasts[48] for e in OLDER), forecasts

    snap = _snapshot(chain)
    honest = _keeper(chain, reg.model_id, consumer, windows)  # the honest run: only 48 is ever published
    _revert(chain, snap)
    desired, stepped = expected_target(policy.neutral_bps, forecasts[48], policy)
    assert (desired != stepped) == (policy is CAPPED), "the cap binds for the capped vault only"
    assert _outcome(honest) == (stepped, forecasts[48], orc.prediction_id(reg.model_id, 48), 48)

    for order in orders:
        snap = _snapshot(chain)
        _attack(chain, reg.model_id, consumer, windows, order, chain.stranger)
        before = orc.consumer_state(chain.conn, consumer, contracts=chain.contracts)
        if 48 not in order:  # an older window moved nothing and started no cooldown
            assert (before.target_risky_bps, before.last_epoch, before.last_rebalance) == (policy.neutral_bps, 0, 0), order
        assert _outcome(_keeper(chain, reg.model_id, consumer, windows)) == _outcome(honest), order
        if order == orders[0]:  # the older windows are stored and readable all the same (once: a read scans events)
            assert [read(chain, reg.model_id, epoch=e).epoch for e in order] == list(order)
        _revert(chain, snap)


def test_an_epoch_superseded_during_the_cooldown_is_never_acted_on(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register_attested(chain, mlp, market, max_epoch_lag=16)
    consumer = vault(chain, reg.model_id, tmp_path, CAPPED)
    p48 = publish(chain, reg.model_id, market.proof, epochs=[48]).prediction
    acted = rebalance(chain, consumer)
    assert acted.last_epoch == 48
    # Epoch 56 arrives during the cooldown (its window is flat: rounds 48..56 equal) and waits.
    e56 = push_flat(chain, market, 8)
    publish(chain, reg.model_id, market.flat_proof, epochs=[e56])
    with pytest.raises(OracleRevertError) as info:
        rebalance(chain, consumer)
    assert info.value.error == "CooldownActive" and info.value.values == (acted.last_rebalance + CAPPED.cooldown,)
    # The feed moves on to 57 before the cooldown ends: 56 is no longer the latest, so it never acts.
    e57 = push_flat(chain, market, 1)
    increase_time(chain, CAPPED.cooldown)
    with pytest.raises(OracleRevertError) as info:
        rebalance(chain, consumer)
    assert info.value.error == "NotLatestEpoch" and info.value.values == (e56, e57)
    assert orc.consumer_state(chain.conn, consumer, contracts=chain.contracts).last_rebalance == acted.last_rebalance
    # Once 57 is published the vault acts on it, one capped step from where 48 left it.
    p57 = publish(chain, reg.model_id, market.flat_proof, epochs=[e57]).prediction
    again = rebalance(chain, consumer)
    wad = orc.to_wad(p57.values[0], p57.scale)
    assert (again.last_epoch, again.last_forecast_wad) == (e57, wad)
    assert again.target_risky_bps == expected_target(acted.target_risky_bps, wad, CAPPED)[1]
    assert acted.last_forecast_wad == orc.to_wad(p48.values[0], p48.scale)
