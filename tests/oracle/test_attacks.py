"""Issue 11's attacks, reproduced on a real anvil: each is refused with its own error, and the honest path still works.

1. a proof on a chosen input (in range, not the feed's) for an attested model: ``InputNotAttested``,
   and the unattested entry point: ``AttestationRequired``;
2. a proof on an out-of-range input (the circuit proves it): ``InputOutOfRange`` on chain, and
   ``prove_attested`` refuses an out-of-bounds feed window before proving;
3. an always-true verifier: refused by the tooling (``VerifierMismatchError``); verifier code
   swapped after registration: ``VerifierCodeMismatch`` on chain, and nothing is stored;
4. a development SRS on a public chain id: ``UnsafeSrsError`` (tests/test_srs.py covers the import guard);
5. an old prediction cannot move the vault (``NotNewer``), nor a newer one inside the cooldown
   (``CooldownActive``), and each step is capped at maxStepBps; anyone may trigger it (the
   publisher's choice of window, issue 22's reorder attack, is in tests/oracle/test_vault_epoch.py);
6. a maxAge change does not revive a stale prediction (expiry is fixed at submit);
7. a repeated window (a flat market) publishes at a new epoch;
8. a batch with one published sample stores the others, also after a front-runner's copy;
9. ownership moves in two steps;
10. the unattested mode serves apps that bind inputs themselves, and the vault refuses it.

Every refusal asserts the decoded error name (or the tooling's exception type), so a test
cannot pass because the transaction failed for another reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import flip_proof_byte
from zkml import oracle as orc
from zkml.config import ConsumerConfig
from zkml.errors import (
    AttestationError,
    OracleRevertError,
    ReplayError,
    StalePredictionError,
    UnsafeSrsError,
    VerifierMismatchError,
)
from zkml.evm.felts import felt_to_int
from zkml.evm.onchain import read_proof
from zkml.evm.rpc import Connection, Sender, code_at, transact
from zkml.evm.solc import CompiledContract
from zkml.oracle.binding import codehash_of, srs_record
from zkml.oracle.feed import attested_input, deploy_feed, latest_round, push_prices, source_instances
from zkml.srs import record_unsafe_reason
from zkml.workspace import Workspace

from .conftest import Market, World, copy_workspace
from .steps import (
    EPOCH_LAG,
    contract,
    expected_target,
    increase_time,
    oracle_view,
    proof_of,
    publish,
    push_flat,
    read,
    rebalance,
    register,
    register_attested,
    register_batched,
    send,
    set_max_age,
    vault,
    ws,
)

ZERO = "0x" + "00" * 20

# --------------------------------------------------------------------------- 1. chosen inputs


def test_a_chosen_input_is_refused_for_an_attested_model(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    assert reg.attested and str(reg.source).lower() == market.source.lower() and reg.bounds == market.bounds
    # The attacker's proof: the example input, inside the calibrated range but not the feed's window.
    chosen = proof_of(mlp)
    chosen_inputs = reg.spec.input_instances(read_proof(chosen).instances)
    attested, _ = source_instances(chain.conn, market.source, [market.latest], contracts=chain.contracts)
    assert list(chosen_inputs) != attested
    assert all(low <= felt_to_int(v) <= high for v, (low, high) in zip(chosen_inputs, reg.bounds, strict=True))
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, chosen, epochs=[market.latest])
    assert info.value.error == "InputNotAttested"
    epoch, feature, proved, expected = info.value.values
    assert epoch == market.latest and proved == chosen_inputs[feature] and expected == attested[feature] != proved
    # The unattested entry point is closed to an attested model, whatever the proof.
    for proof in (chosen, market.proof):
        with pytest.raises(OracleRevertError) as info:
            publish(chain, reg.model_id, proof)
        assert info.value.error == "AttestationRequired"
    # The honest proof, claimed at an epoch whose window it is not: refused the same way.
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, market.proof, epochs=[market.latest - 1])
    assert info.value.error == "InputNotAttested"
    # Too far behind the feed (maxEpochLag), or ahead of it: EpochTooOld.
    for epoch in (market.latest - EPOCH_LAG - 1, market.latest + 1):
        with pytest.raises(OracleRevertError) as info:
            publish(chain, reg.model_id, market.proof, epochs=[epoch])
        assert info.value.error == "EpochTooOld" and info.value.values == (epoch, market.latest, EPOCH_LAG)
    assert not oracle_view(chain, "isEpochPublished", reg.model_id, market.latest)

    # The honest path: the proof on the feed's own window at that epoch.
    pub = publish(chain, reg.model_id, market.proof, epochs=[market.latest])
    p = pub.prediction
    data_time = latest_round(chain.conn, market.feed, contracts=chain.contracts).updated_at
    assert (p.epoch, p.prediction_id) == (market.latest, orc.prediction_id(reg.model_id, market.latest))
    assert p.data_timestamp == data_time and p.expires_at == data_time + reg.max_age
    assert read(chain, reg.model_id, epoch=market.latest) == p == read(chain, reg.model_id)


# --------------------------------------------------------------------------- 2. out-of-range inputs

WILD = [100.0, -50.0, 100.0, -50.0, 100.0, -50.0, 100.0, -50.0]  # +-100 % moves: the attack


@pytest.fixture(scope="module")
def wild_proof(mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mlp model proved on +100 % / -50 % returns, far outside its calibrated range of a few percent.

    The pipeline's own range check refuses such an input, so this copy proves with a huge
    ``input_range_margin``: the circuit itself proves it, as it did before the oracle bound inputs.
    """
    from zkml.pipeline import Pipeline

    root = tmp_path_factory.mktemp("wild")
    pipeline = Pipeline(mlp.pipeline.config.with_circuit(input_range_margin=1e6), Workspace(copy_workspace(mlp.workspace, root)))
    source = root / "wild.json"
    source.write_text(json.dumps({"input_data": [WILD]}))
    return Path(pipeline.prove(source).path)


def _verifier_accepts(conn: Connection, verifier: str, proof: Path) -> bool:
    """Ask the plain verifier directly (no oracle rules): does the proof verify?"""
    abi = [
        {
            "type": "function",
            "name": "verifyProof",
            "stateMutability": "nonpayable",
            "inputs": [{"name": "proof", "type": "bytes"}, {"name": "instances", "type": "uint256[]"}],
            "outputs": [{"name": "", "type": "bool"}],
        }
    ]
    data = read_proof(proof)
    return bool(conn.w3.eth.contract(address=verifier, abi=abi).functions.verifyProof(data.proof, list(data.instances)).call())


def test_an_out_of_range_input_is_refused(wild_proof: Path, market: Market, chain: World, mlp: Any) -> None:
    assert _verifier_accepts(chain.conn, chain.mlp_verifier, wild_proof), "the circuit proves out-of-range inputs"
    reg = register(chain, mlp, chain.mlp_verifier)
    assert reg.bounds == market.bounds and len(reg.bounds) == 8
    model = orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)
    assert model is not None and model["bounds"] == reg.bounds
    inputs = [felt_to_int(v) for v in reg.spec.input_instances(read_proof(wild_proof).instances)]
    assert inputs == [round(v * 2**reg.spec.input_scale) for v in WILD]
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, wild_proof)
    assert info.value.error == "InputOutOfRange"
    sample, feature, value, low, high = info.value.values
    assert (sample, value, (low, high)) == (0, inputs[feature], reg.bounds[feature]) and not low <= value <= high
    # An attested model checks the same bounds (before the attestation).
    attested = register_attested(chain, mlp, market)
    with pytest.raises(OracleRevertError) as info:
        publish(chain, attested.model_id, wild_proof, epochs=[market.latest])
    assert info.value.error == "InputOutOfRange"
    # In-range proofs still publish.
    assert publish(chain, reg.model_id, proof_of(mlp)).gas_used
    assert publish(chain, attested.model_id, market.proof, epochs=[market.latest]).gas_used


class _NoProving:
    """A pipeline stand-in that fails the test if anything tries to prove with it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"prove_attested used the pipeline ({name}) before refusing")


def test_an_out_of_bounds_feed_window_is_not_proved(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    last = latest_round(chain.conn, market.feed, contracts=chain.contracts).answer
    # An extreme move: the price doubles. The window at the new round holds a +100 % return.
    epoch = push_prices(chain.conn, market.feed, [2 * last], sender=chain.owner, contracts=chain.contracts).last_round
    window = attested_input(chain.conn, market.feed, epoch, market.spec, contracts=chain.contracts)
    assert window.values[-1] == 100.0
    with pytest.raises(AttestationError, match="outside the model's registered bounds") as info:
        orc.prove_attested(_NoProving(), window, reg.spec, reg.bounds)
    assert "feature 7" in str(info.value) and "recalibrate" in str(info.value)


# --------------------------------------------------------------------------- 3. verifier binding

ALWAYS_TRUE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Accepts every proof: registered as a model's verifier, it stores any forecast a caller likes.
contract AlwaysTrue {
    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) {
        return true;
    }
}
"""


@pytest.fixture(scope="module")
def always_true() -> CompiledContract:
    from zkml.evm.solc import compile_standard_json

    return compile_standard_json({"AlwaysTrue.sol": ALWAYS_TRUE})["AlwaysTrue"]


def test_an_always_true_verifier_is_refused_by_the_tooling(always_true: CompiledContract, market: Market, chain: World, mlp: Any) -> None:
    fake = transact(chain.conn, chain.owner, always_true.bytecode, "deploying AlwaysTrue")["contractAddress"]
    assert _verifier_accepts(chain.conn, fake, proof_of(mlp))
    for source in (None, market.source):
        with pytest.raises(VerifierMismatchError, match="is not this workspace's compiled verifier"):
            orc.register_workspace(
                chain.conn, chain.oracle, ws(mlp), verifier=fake, feature_source=source, sender=chain.owner, contracts=chain.contracts
            )
        # Nothing was sent: the default id of these keys is still free.
        model_id = orc.workspace_model(ws(mlp)).model_id_for(source)
        assert orc.read_model(chain.conn, chain.oracle, model_id, contracts=chain.contracts) is None
    # Another model's real verifier is refused too; the workspace's own registers.
    with pytest.raises(VerifierMismatchError):
        register(chain, mlp, chain.tiny_verifier)
    reg = register(chain, mlp, chain.mlp_verifier)
    assert reg.codehash == codehash_of(code_at(chain.conn, chain.mlp_verifier))


def _set_code(conn: Connection, address: str, code: bytes) -> None:
    assert conn.w3.provider.make_request("anvil_setCode", [address, "0x" + code.hex()]).get("error") is None


def test_swapped_verifier_code_is_detected_on_chain(
    always_true: CompiledContract, market: Market, chain: World, mlp: Any, tmp_path: Path
) -> None:
    reg = register_attested(chain, mlp, market)
    original = bytes(code_at(chain.conn, chain.mlp_verifier))
    assert reg.codehash == codehash_of(original)
    # The verifier's address now runs code that accepts anything.
    _set_code(chain.conn, chain.mlp_verifier, always_true.deployed_bytecode)
    garbage = tmp_path / "garbage.json"
    flip_proof_byte(market.proof, garbage)
    for proof in (garbage, market.proof):
        with pytest.raises(OracleRevertError) as info:
            publish(chain, reg.model_id, proof, epochs=[market.latest])
        assert info.value.error == "VerifierCodeMismatch"
        assert info.value.values == (reg.model_id, reg.codehash, codehash_of(always_true.deployed_bytecode))
    # The garbage proof stored nothing.
    assert not oracle_view(chain, "isEpochPublished", reg.model_id, market.latest)
    with pytest.raises(OracleRevertError) as info:
        read(chain, reg.model_id, epoch=market.latest)
    assert info.value.error == "NoPrediction"
    # Once the registered code is back, the honest proof publishes (and the garbage one fails verification).
    _set_code(chain.conn, chain.mlp_verifier, original)
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, garbage, epochs=[market.latest])
    assert info.value.error == "VerificationFailed"
    assert publish(chain, reg.model_id, market.proof, epochs=[market.latest]).prediction.epoch == market.latest


# --------------------------------------------------------------------------- 4. unsafe SRS


def test_a_dev_srs_workspace_is_refused_on_a_public_chain(conn5: Connection, tiny: Any, tmp_path: Path) -> None:
    from zkml.evm.deploy import deploy_verifier

    record = srs_record(tiny.workspace)
    assert record["provenance"] == "dev-unsafe" and record_unsafe_reason(record) == "dev-unsafe"
    owner = Sender(list(conn5.w3.eth.accounts)[0])
    oracle = orc.deploy_oracle(conn5, tmp_path, sender=owner).address
    verifier = deploy_verifier(conn5, tiny.pipeline.verifier(), tmp_path, srs_unsafe=True, allow_unsafe_srs=True, sender=owner).address
    with pytest.raises(UnsafeSrsError, match="development SRS"):
        orc.register_workspace(conn5, oracle, tiny.workspace, verifier=verifier, sender=owner)
    assert orc.read_model(conn5, oracle, orc.workspace_model(tiny.workspace).model_id) is None
    # Keys from an SRS imported without a pinned sha256 count as unsafe too.
    unpinned = copy_workspace(tiny.workspace, tmp_path / "unpinned")
    Workspace(unpinned).set_info("srs", {**record, "provenance": "imported", "pinned": False, "unsafe": True})
    with pytest.raises(UnsafeSrsError, match="unpinned"):
        orc.register_workspace(conn5, oracle, unpinned, verifier=verifier, sender=owner)
    assert record_unsafe_reason({**record, "provenance": "imported", "pinned": True, "unsafe": False}) is None
    # A throwaway deployment may insist.
    reg = orc.register_workspace(conn5, oracle, tiny.workspace, verifier=verifier, allow_unsafe_srs=True, sender=owner)
    assert not reg.reused and reg.gas_used > 0


# --------------------------------------------------------------------------- 5. the vault and old predictions

# A policy the step cap binds: any forecast beyond 0.005 (output units) wants a 100 % swing.
CAPPED = ConsumerConfig(neutral_bps=5_000, bps_per_output_unit=1_000_000, max_step_bps=100, cooldown=300, max_age=3600)


def test_an_old_prediction_cannot_move_the_vault(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register_attested(chain, mlp, market)
    consumer = vault(chain, reg.model_id, tmp_path, CAPPED)
    epoch = push_flat(chain, market, 9)  # the windows at epoch - 1 and epoch are flat
    first = publish(chain, reg.model_id, market.flat_proof, epochs=[epoch]).prediction
    wad = orc.to_wad(first.values[0], first.scale)
    desired, stepped = expected_target(CAPPED.neutral_bps, wad, CAPPED)
    assert abs(desired - CAPPED.neutral_bps) > CAPPED.max_step_bps, "the cap must bind for this test to show it"
    acted = rebalance(chain, consumer)  # a stranger triggers it: nothing it chooses changes the outcome
    assert (acted.last_epoch, acted.last_prediction_id, acted.target_risky_bps) == (epoch, first.prediction_id, stepped)
    assert acted.last_forecast_wad == wad

    # Older predictions published afterwards (within maxEpochLag) are stored, but the latest stays `epoch`.
    older = publish(chain, reg.model_id, market.flat_proof, epochs=[epoch - 1]).prediction
    real = publish(chain, reg.model_id, market.proof, epochs=[market.latest]).prediction
    assert older.epoch < epoch and real.epoch < epoch and real.values != first.values
    assert read(chain, reg.model_id) == first
    for _ in range(2):
        with pytest.raises(OracleRevertError) as info:
            rebalance(chain, consumer)
        assert info.value.error == "NotNewer" and info.value.values == (epoch, epoch)

    # A newer epoch inside the cooldown: refused until it has passed.
    newer = push_flat(chain, market, 1)
    publish(chain, reg.model_id, market.flat_proof, epochs=[newer])
    with pytest.raises(OracleRevertError) as info:
        rebalance(chain, consumer)
    assert info.value.error == "CooldownActive" and info.value.values == (acted.last_rebalance + CAPPED.cooldown,)
    increase_time(chain, CAPPED.cooldown)
    again = rebalance(chain, consumer)
    # One more capped step toward the same desired allocation.
    assert again.last_epoch == newer and again.target_risky_bps == expected_target(stepped, wad, CAPPED)[1]
    assert abs(again.target_risky_bps - acted.target_risky_bps) == CAPPED.max_step_bps


# --------------------------------------------------------------------------- 6. maxAge changes


def test_a_max_age_change_does_not_revive_a_stale_prediction(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market, max_age=600)
    epoch = push_flat(chain, market, 9)
    stale = publish(chain, reg.model_id, market.flat_proof, epochs=[epoch]).prediction
    data_time = latest_round(chain.conn, market.feed, contracts=chain.contracts).updated_at
    assert (stale.data_timestamp, stale.expires_at) == (data_time, data_time + 600)
    increase_time(chain, 700)
    for where in ({"epoch": epoch}, {}):
        with pytest.raises(StalePredictionError) as info:
            read(chain, reg.model_id, **where)
        assert info.value.error == "Stale" and info.value.values[:2] == (stale.prediction_id, stale.expires_at)
    # The owner raises maxAge: the stored prediction keeps the expiry it was stored with.
    set_max_age(chain, reg.model_id, 10**9)
    assert orc.read_model(chain.conn, chain.oracle, reg.model_id, contracts=chain.contracts)["max_age"] == 10**9  # type: ignore[index]
    with pytest.raises(StalePredictionError):
        read(chain, reg.model_id, epoch=epoch)
    record = orc.prediction_record(chain.conn, chain.oracle, reg.model_id, stale.prediction_id, epoch=epoch, contracts=chain.contracts)
    assert record == stale
    # A prediction stored after the change gets the new maxAge, from its own data's time.
    newer = push_flat(chain, market, 1)
    fresh = publish(chain, reg.model_id, market.flat_proof, epochs=[newer]).prediction
    assert fresh.expires_at == fresh.data_timestamp + 10**9
    assert read(chain, reg.model_id) == fresh == read(chain, reg.model_id, epoch=newer)
    # Only the owner changes it, and never to zero.
    with pytest.raises(OracleRevertError) as info:
        send(chain, contract(chain).encode_abi("setMaxAge", args=[reg.model_id, 1]), "changing maxAge", sender=chain.stranger)
    assert info.value.error == "NotOwner"
    with pytest.raises(OracleRevertError, match="maxAge") as info:
        set_max_age(chain, reg.model_id, 0)
    assert info.value.error == "InvalidModelConfig"


# --------------------------------------------------------------------------- 7. repeated windows


def test_a_repeated_window_publishes_at_a_new_epoch(market: Market, chain: World, mlp: Any) -> None:
    reg = register_attested(chain, mlp, market)
    latest = push_flat(chain, market, 9)
    windows, _ = source_instances(chain.conn, market.source, [latest - 1, latest], contracts=chain.contracts)
    assert windows == [0] * 16  # two epochs, the same all-zero window
    first = publish(chain, reg.model_id, market.flat_proof, epochs=[latest - 1]).prediction
    second = publish(chain, reg.model_id, market.flat_proof, epochs=[latest]).prediction
    assert first.prediction_id == orc.prediction_id(reg.model_id, latest - 1)
    assert second.prediction_id == orc.prediction_id(reg.model_id, latest) != first.prediction_id
    assert first.values == second.values and (first.epoch, second.epoch) == (latest - 1, latest)
    assert read(chain, reg.model_id, epoch=latest - 1) == first and read(chain, reg.model_id) == second
    # Each epoch still publishes once.
    with pytest.raises(ReplayError) as info:
        publish(chain, reg.model_id, market.flat_proof, epochs=[latest])
    assert info.value.values == (second.prediction_id,)


# --------------------------------------------------------------------------- 8. batches and front-runners


def _sample_ids(reg: orc.Registration, proof: Path) -> list[bytes]:
    instances = [int(v) for v in read_proof(proof).instances]
    return [orc.prediction_id(reg.model_id, orc.input_commitment(s)) for s in reg.spec.sample_inputs(instances)]


def test_a_batch_with_a_published_sample_stores_the_others(chain: World, batched_tiny: Any, tiny: Any, tmp_path: Path) -> None:
    reg = register_batched(chain, batched_tiny, tiny, tmp_path / "evm")
    proofs = {order: Path(result.proof.path) for order, result in batched_tiny.proofs.items()}
    first = publish(chain, reg.model_id, proofs[(0, 1)])
    id0, id1 = _sample_ids(reg, proofs[(0, 1)])
    assert [p.prediction_id for p in first.batch] == [id0, id1] and first.skipped == ()
    # Samples (1, 2): sample 1 is already published, sample 2 is new. It is stored; 1 is skipped.
    second = publish(chain, reg.model_id, proofs[(1, 2)])
    skipped, id2 = _sample_ids(reg, proofs[(1, 2)])
    assert skipped == id1 and second.skipped == (id1,) and [p.prediction_id for p in second.batch] == [id2]
    sample2 = reg.spec.sample_inputs(read_proof(proofs[(1, 2)]).instances)[1]
    assert read(chain, reg.model_id, commitment=orc.input_commitment(sample2)) == second.prediction
    # The skipped sample keeps what it was first stored with.
    assert orc.prediction_record(chain.conn, chain.oracle, reg.model_id, id1, contracts=chain.contracts) == first.batch[1]
    # Nothing new at all: Replay, refused before verification.
    for order in ((1, 2), (0, 0)):
        with pytest.raises(ReplayError):
            publish(chain, reg.model_id, proofs[order])


def test_a_front_run_copy_does_not_sink_the_honest_batch(chain: World, batched_tiny: Any, tiny: Any, tmp_path: Path) -> None:
    reg = register_batched(chain, batched_tiny, tiny, tmp_path / "evm")
    proofs = {order: Path(result.proof.path) for order, result in batched_tiny.proofs.items()}
    # The front-runner copies the honest sender's (0, 1) submission from the mempool and lands first.
    calldata = orc.submit_calldata(contract(chain), reg.model_id, read_proof(proofs[(0, 1)]))
    receipt = send(chain, calldata, "front-running the submission", sender=chain.stranger)
    events = contract(chain).events.PredictionPublished().process_receipt(receipt)
    assert [e["args"]["submitter"] for e in events] == [chain.stranger.address] * 2
    # The honest copy has nothing new: refused before it verifies (the client's dry run spends nothing) ...
    with pytest.raises(ReplayError):
        publish(chain, reg.model_id, proofs[(0, 1)])
    # ... and, already sent, it reverts before verifying: it pays for its calldata, not for a proof check.
    sent = chain.conn.w3.eth.send_transaction({"from": chain.owner.address, "to": chain.oracle, "data": calldata, "gas": 3_000_000})
    mined = chain.conn.w3.eth.wait_for_transaction_receipt(sent)
    assert mined["status"] == 0 and mined["gasUsed"] < receipt["gasUsed"] // 4  # ~151k of ~716k, mostly calldata
    # The honest sender's next batch shares the front-run sample 1: it stores sample 2 instead of reverting.
    honest = publish(chain, reg.model_id, proofs[(1, 2)])
    id0, id1 = _sample_ids(reg, proofs[(0, 1)])
    assert honest.skipped == (id1,) and [p.prediction_id for p in honest.batch] == [_sample_ids(reg, proofs[(1, 2)])[1]]
    # What the front-runner stored is exactly what the proof says: it chose nothing but the submitter field.
    instances = read_proof(proofs[(0, 1)]).instances
    spec = reg.spec
    outputs = [felt_to_int(v) for v in instances[spec.output_offset : spec.output_offset + spec.output_count]]
    stored = [orc.prediction_record(chain.conn, chain.oracle, reg.model_id, pid, contracts=chain.contracts).values for pid in (id0, id1)]
    assert stored == [tuple(outputs[:2]), tuple(outputs[2:])]


def test_a_batch_repeating_a_sample_stores_it_once(chain: World, batched_tiny: Any, tiny: Any, tmp_path: Path) -> None:
    reg = register_batched(chain, batched_tiny, tiny, tmp_path / "evm")
    pub = publish(chain, reg.model_id, Path(batched_tiny.proofs[(0, 0)].proof.path))
    assert len(pub.batch) == 1 and pub.skipped == (pub.batch[0].prediction_id,)


# --------------------------------------------------------------------------- 9. ownership


def test_ownership_moves_in_two_steps(chain: World, tiny: Any, tmp_path: Path) -> None:
    third = Sender(list(chain.conn.w3.eth.accounts)[2])
    c = contract(chain)
    with pytest.raises(OracleRevertError) as info:
        send(chain, c.encode_abi("transferOwnership", args=[third.address]), "transferring", sender=chain.stranger)
    assert info.value.error == "NotOwner"
    send(chain, c.encode_abi("transferOwnership", args=[chain.stranger.address]), "transferring")
    # Nothing moved yet: the old owner still owns it, the new one must accept.
    assert oracle_view(chain, "owner") == chain.owner.address and oracle_view(chain, "pendingOwner") == chain.stranger.address
    with pytest.raises(OracleRevertError) as info:
        send(chain, c.encode_abi("acceptOwnership", args=[]), "accepting", sender=third)
    assert info.value.error == "NotOwner" and info.value.values[0].lower() == third.address.lower()
    send(chain, c.encode_abi("acceptOwnership", args=[]), "accepting", sender=chain.stranger)
    assert oracle_view(chain, "owner") == chain.stranger.address and oracle_view(chain, "pendingOwner") == ZERO
    with pytest.raises(OracleRevertError) as info:
        register(chain, tiny, chain.tiny_verifier)
    assert info.value.error == "NotOwner"
    reg = orc.register_workspace(chain.conn, chain.oracle, ws(tiny), verifier=chain.tiny_verifier, sender=chain.stranger)
    assert not reg.reused

    # The PushFeed moves the same way.
    feed = deploy_feed(chain.conn, tmp_path, sender=chain.owner, contracts=chain.contracts).address
    f = chain.conn.w3.eth.contract(address=feed, abi=chain.contracts.feed.abi_list)

    def feed_tx(fn: str, args: list[Any], sender: Sender) -> None:
        transact(chain.conn, sender, f.encode_abi(fn, args=args), fn, to=feed, errors=chain.contracts.errors)

    feed_tx("transferOwnership", [chain.stranger.address], chain.owner)
    with pytest.raises(OracleRevertError) as info:
        feed_tx("acceptOwnership", [], third)
    assert info.value.error == "NotOwner"
    feed_tx("acceptOwnership", [], chain.stranger)
    assert f.functions.owner().call() == chain.stranger.address
    push_prices(chain.conn, feed, [100], sender=chain.stranger, contracts=chain.contracts)


# --------------------------------------------------------------------------- 10. the unattested mode


def test_the_unattested_mode_serves_apps_that_bind_inputs_themselves(market: Market, chain: World, mlp: Any, tmp_path: Path) -> None:
    reg = register(chain, mlp, chain.mlp_verifier)
    assert not reg.attested and reg.source is None
    pub = publish(chain, reg.model_id, proof_of(mlp))
    inputs = reg.spec.input_instances(read_proof(proof_of(mlp)).instances)
    commitment = orc.input_commitment(inputs)
    assert bytes(oracle_view(chain, "inputCommitmentOf", list(inputs))) == commitment
    assert pub.prediction.prediction_id == orc.prediction_id(reg.model_id, commitment) and pub.prediction.epoch == 0
    # An app that computed the inputs itself reads the prediction for exactly those inputs.
    assert read(chain, reg.model_id, commitment=commitment) == pub.prediction == read(chain, reg.model_id)
    with pytest.raises(OracleRevertError) as info:
        read(chain, reg.model_id, commitment=orc.input_commitment([*inputs[:-1], inputs[-1] + 1]))
    assert info.value.error == "NoPrediction"
    # The attested readers and entry points are not for it, nor the unattested ones for an attested model.
    with pytest.raises(OracleRevertError) as info:
        read(chain, reg.model_id, epoch=market.latest)
    assert info.value.error == "NotAttested"
    with pytest.raises(OracleRevertError) as info:
        publish(chain, reg.model_id, market.proof, epochs=[market.latest])
    assert info.value.error == "NotAttested"
    attested = register_attested(chain, mlp, market)
    with pytest.raises(OracleRevertError) as info:
        read(chain, attested.model_id, commitment=commitment)
    assert info.value.error == "AttestationRequired"
    # The vault acts only on attested models: it refuses to be deployed on this one, or on an unknown one.
    for model_id, reason in ((reg.model_id, "model is not attested"), (b"\x42" * 32, "model not registered on the oracle")):
        with pytest.raises(OracleRevertError) as info:
            vault(chain, model_id, tmp_path)
        assert info.value.error == "InvalidParameter" and info.value.values == (reason,)
    assert vault(chain, attested.model_id, tmp_path)
