"""The deployments record: one type and one store for every contract (pure: no chain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkml.errors import ChainError
from zkml.evm.records import MINED, PENDING, Deployment, DeploymentStore, matches
from zkml.workspace import Layout


def _deployment(kind: str = "verifier", name: str = "Halo2Verifier", chain_id: int = 31337, **fields: object) -> Deployment:
    base: dict[str, object] = {
        "kind": kind,
        "name": name,
        "chain_id": chain_id,
        "address": "0x" + "Ab" * 20,
        "tx_hash": "0x" + "01" * 32,
        "gas_used": 123,
        "block_number": 4,
        "runtime_sha256": "aa" * 32,
    }
    return Deployment(**{**base, **fields})  # type: ignore[arg-type]


def test_round_trip_records_only_the_fields_a_kind_uses() -> None:
    verifier = _deployment(vk_sha256="bb" * 32, compiler={"version": "0.8.30"}, srs_unsafe=True)
    data = verifier.as_dict()
    assert data["status"] == MINED and data["vk_sha256"] == "bb" * 32 and data["compiler"] == {"version": "0.8.30"}
    assert "oracle" not in data and "model_id" not in data and "reused" not in data and "vka_digest" not in data
    assert Deployment.from_dict(data) == verifier
    consumer = _deployment("consumer", "ForecastVault", oracle="0x" + "cd" * 20, model_id="0x" + "07" * 32)
    assert Deployment.from_dict(consumer.as_dict()) == consumer and "vk_sha256" not in consumer.as_dict()
    assert Deployment.from_dict(data, reused=True) == verifier.as_reused() and verifier.as_reused().reused


def test_mined_from_a_pending_entry_and_its_receipt() -> None:
    pending = {"kind": "oracle", "name": "VerifiedPredictionOracle", "chain_id": 5, "runtime_sha256": "cc" * 32, "status": PENDING}
    receipt = {"contractAddress": "0x" + "12" * 20, "transactionHash": b"\x09" * 32, "gasUsed": 99, "blockNumber": 7}
    mined = Deployment.mined(pending, receipt)
    assert (mined.address, mined.tx_hash, mined.gas_used, mined.block_number) == ("0x" + "12" * 20, "0x" + "09" * 32, 99, 7)
    assert Deployment.mined(pending, receipt, address="0x" + "34" * 20).address == "0x" + "34" * 20


def test_store_lives_in_the_workspace_layout(tmp_path: Path) -> None:
    store = DeploymentStore.of(tmp_path)
    assert store.path == Layout(tmp_path).deployments and store.load() == [] and store.latest(31337) is None


def test_lookup_by_chain_name_and_fields(tmp_path: Path) -> None:
    store = DeploymentStore.of(tmp_path)
    verifier = _deployment(tx_hash="0x" + "01" * 32)
    oracle = _deployment("oracle", "VerifiedPredictionOracle", tx_hash="0x" + "02" * 32)
    vault_a = _deployment("consumer", "ForecastVault", tx_hash="0x" + "03" * 32, oracle="0x" + "AA" * 20, model_id="0x01")
    vault_b = _deployment("consumer", "ForecastVault", tx_hash="0x" + "04" * 32, oracle="0x" + "AA" * 20, model_id="0x02")
    elsewhere = _deployment("oracle", "VerifiedPredictionOracle", chain_id=5, tx_hash="0x" + "05" * 32)
    for deployment in (verifier, oracle, vault_a, vault_b, elsewhere):
        store.replace({"tx_hash": deployment.tx_hash}, deployment)
    assert store.find(31337, "VerifiedPredictionOracle") == [oracle] and store.latest(5, "VerifiedPredictionOracle") == elsewhere
    assert store.latest(31337, "ForecastVault", oracle="0x" + "aa" * 20, model_id="0x02") == vault_b  # addresses in any case
    assert store.find(31337, kind="verifier") == [verifier] and store.latest(31337) == vault_b
    assert json.loads(store.path.read_text())["version"] == 1


def test_plain_and_reusable_verifiers_are_told_apart(tmp_path: Path) -> None:
    store = DeploymentStore.of(tmp_path)
    plain = _deployment(tx_hash="0x" + "11" * 32, vk_sha256="bb" * 32)
    reusable = _deployment(tx_hash="0x" + "12" * 32, name="Halo2VerifierReusable")
    newer_plain = _deployment(tx_hash="0x" + "13" * 32, vk_sha256="cc" * 32)
    for deployment in (plain, reusable, newer_plain):
        store.replace({"tx_hash": deployment.tx_hash}, deployment)
    assert store.verifiers(31337, reusable=False) == [plain, newer_plain]
    assert store.verifiers(31337, reusable=True) == [reusable] and store.verifiers(5, reusable=True) == []


def test_pending_then_mined_then_forgotten(tmp_path: Path) -> None:
    store = DeploymentStore.of(tmp_path)
    fields = {"kind": "verifier", "name": "Halo2Verifier", "chain_id": 31337, "runtime_sha256": "aa" * 32}
    store.remember_pending(fields, "0x" + "0f" * 32)
    assert [e["status"] for e in store.load()] == [PENDING] and store.find(31337) == []  # pending is not a deployment yet
    mined = _deployment(tx_hash="0x" + "0f" * 32)
    store.replace({"tx_hash": mined.tx_hash}, mined)
    assert [e["status"] for e in store.load()] == [MINED] and store.find(31337) == [mined]
    store.forget(mined.tx_hash)
    assert store.load() == []


def test_entries_of_older_records_still_match(tmp_path: Path) -> None:
    # deployments.json written before the record had names and omitted defaults.
    legacy = {
        "kind": "verifier",
        "status": "mined",
        "chain_id": 1,
        "address": "0x" + "11" * 20,
        "tx_hash": "0x01",
        "gas_used": 1,
        "block_number": 1,
        "runtime_sha256": "ab",
        "vk_sha256": "",
        "vka_digest": "",
        "compiler": {},
        "srs_unsafe": False,
    }
    store = DeploymentStore.of(tmp_path)
    store.save([legacy])
    assert matches(legacy, {"kind": "verifier", "chain_id": 1, "runtime_sha256": "ab", "oracle": ""})
    (found,) = store.find(1, kind="verifier")
    assert found.name == "" and found.vk_sha256 == ""


@pytest.mark.parametrize("content", ["{not json", '{"deployments": {"a": 1}}', "[1, 2]"])
def test_unreadable_record_is_refused_and_never_overwritten(tmp_path: Path, content: str) -> None:
    store = DeploymentStore.of(tmp_path)
    store.path.write_text(content)
    with pytest.raises(ChainError, match="unreadable|unknown format"):
        store.replace({"tx_hash": "0x01"}, _deployment())
    assert store.path.read_text() == content
