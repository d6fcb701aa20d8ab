"""Publishing to the oracle exactly once, through kill -9 at the two instants that matter.

The kill is aimed with the publisher's fault hook (``ZKML_SERVE_FAULT``): a
plain kill -9 cannot be timed to land between recording a hash and sending
it, or between a mined receipt and its record. The server is a real
``zkml serve start`` subprocess each time; the restart is a plain one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serve.conftest import ANVIL_KEY_1, LiveServer, Market, make_service, make_token, server_process


def test_a_publishing_job_stores_the_prediction(served: Any, market: Market, signer: str, tmp_path: Path) -> None:
    from dataclasses import replace

    from zkml.oracle.feed import attested_input, latest_epoch
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.serve.tokens import create_token

    model = replace(served, binding=market.binding())
    (epoch,) = market.push(1)
    assert latest_epoch(market.conn, market.feed) == epoch
    spec = ReturnsSpec(model.spec.inputs[0].shape[1], model.spec.circuit.settings.input_scales[0], 100)
    attested = attested_input(market.conn, market.feed, epoch, spec)
    from zkml.serve.service import ServeConfig, Service

    service = Service(ServeConfig(store_url=str(tmp_path / "jobs.sqlite"), data_dir=tmp_path / "data"), {model.name: model}).start()
    try:
        _, secret = create_token(service.store, "t", frozenset({"prove", "publish"}))
        with LiveServer(service) as server:
            client = server.client(secret)
            created = client.post("/v1/jobs", json={"model": model.name, "input": attested.input_data(), "publish": True, "epoch": epoch})
            assert created.status_code == 201, created.text
            job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 120}).json()
            assert job["state"] == "done", job
            assert job["tx_hash"] and job["gas_used"] > 0
            assert job["prediction"]["epoch"] == epoch
            assert [tx for e, tx in market.published() if e == epoch] == [job["tx_hash"]]
            (shown,) = [p for p in client.get("/v1/predictions").json() if p["job"] == job["id"]]
            assert shown["tx_hash"] == job["tx_hash"]
            walk = client.get(f"/v1/jobs/{job['id']}/provenance").json()
            assert walk["ok"] is True, [link for link in walk["links"] if link["status"] == "broken"]
    finally:
        service.stop()


@pytest.mark.parametrize("fault", ["after_tx_recorded", "after_receipt"])
def test_kill9_while_publishing_never_sends_twice(tuned_mlp: Any, market: Market, fault: str, tmp_path: Path) -> None:
    from zkml.evm.rpc import get_receipt
    from zkml.oracle.feed import attested_input
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.oracle.registry import workspace_model
    from zkml.serve.store import JobStore

    (epoch,) = market.push(1)
    layout = workspace_model(tuned_mlp).spec
    attested = attested_input(market.conn, market.feed, epoch, ReturnsSpec(layout.sample_width, layout.input_scale, 100))
    token = make_token(tmp_path, "prove,publish")
    chain_args = ("--rpc-url", market.url, "--oracle", market.oracle, "--feed", market.feed, "--model-id", "0x" + market.model_id.hex())
    env = {"ZKML_PRIVATE_KEY": ANVIL_KEY_1}
    sender = market.conn.w3.eth.account.from_key(ANVIL_KEY_1).address
    faulty = server_process(Path(tuned_mlp.ws.root), tmp_path, *chain_args, env={**env, "ZKML_SERVE_FAULT": fault}).start()
    body = {"model": "mlp_regressor", "input": attested.input_data(), "publish": True, "epoch": epoch}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"epoch-{epoch}"}
    job_id = httpx.post(faulty.url + "/v1/jobs", json=body, headers=headers, timeout=30).json()["id"]
    assert faulty.wait_killed(timeout=300) != 0  # it killed itself at the fault point

    store = JobStore(str(tmp_path / "jobs.sqlite"))
    caught = store.get(job_id)
    store.close()
    assert caught is not None and caught.state == "publishing" and caught.tx_hash, caught
    mined = get_receipt(market.conn, caught.tx_hash)
    assert (mined is not None) == (fault == "after_receipt")
    nonce_before = market.conn.w3.eth.get_transaction_count(sender)

    server = server_process(Path(tuned_mlp.ws.root), tmp_path, *chain_args, env=env)
    server.log = tmp_path / "server2.log"
    server.start()
    try:
        again = httpx.post(server.url + "/v1/jobs", json=body, headers=headers, timeout=30)
        assert again.status_code == 200 and again.json()["id"] == job_id  # the retried POST: the same job
        job = httpx.get(f"{server.url}/v1/jobs/{job_id}", params={"wait": 120}, timeout=180).json()
    finally:
        server.stop()
    assert job["state"] == "done", job
    assert [e for e, _ in market.published()].count(epoch) == 1
    sent_after_restart = market.conn.w3.eth.get_transaction_count(sender) - nonce_before
    if fault == "after_receipt":
        assert job["tx_hash"] == caught.tx_hash and sent_after_restart == 0  # resolved from the receipt, nothing sent
    else:
        assert sent_after_restart == 1  # it never reached the node, so it was sent now, once


def test_a_model_without_oracle_cannot_publish(served: Any, tmp_path: Path) -> None:
    from zkml.serve.tokens import create_token

    service = make_service(served, tmp_path, run_workers=False).start()
    try:
        _, secret = create_token(service.store, "t", frozenset({"prove", "publish"}))
        with LiveServer(service) as server:
            response = server.client(secret).post(
                "/v1/jobs", json={"model": served.name, "input": {"input_data": [[0.0] * 8]}, "publish": True}
            )
            assert response.status_code == 422 and "no oracle" in response.json()["detail"]
    finally:
        service.stop()


def test_naming_epoch() -> None:
    from zkml.serve.publisher import naming_epoch

    assert naming_epoch(7, "the verifier rejected the proof") == "epoch 7: the verifier rejected the proof"
    assert naming_epoch(7, "EpochTooOld(7, 20, 8) (epoch 7 is more than 8 rounds behind)").startswith("EpochTooOld")
    assert naming_epoch(5, "epoch 50 is past the feed's latest epoch 48") == "epoch 5: epoch 50 is past the feed's latest epoch 48"
    assert naming_epoch(None, "no epoch here") == "no epoch here"


@pytest.mark.parametrize("with_oracle", [False, True])
def test_a_failed_publication_names_its_epoch(served: Any, market: Market, tmp_path: Path, with_oracle: bool) -> None:
    """Whatever fails an attested job's publication, the job's error (and the log) says which epoch."""
    from dataclasses import replace

    from zkml.serve.metrics import ServeMetrics
    from zkml.serve.publisher import Publisher
    from zkml.serve.store import JobStore

    store = JobStore(str(tmp_path / "jobs.sqlite"))
    try:
        job, _ = store.submit(served.name, "{}", publish=True, epoch=4242)
        (claimed,) = store.claim(served.name, 1)
        # Not a proof: the publisher fails it before anything is sent (or, without an oracle, before reading it).
        store.proved(claimed.id, outputs=[0.0], proof="{}", verified=True, witness_seconds=0.0, prove_seconds=0.0)
        model = replace(served, binding=market.binding()) if with_oracle else served
        publisher = Publisher(store, {served.name: model}, ServeMetrics(lambda: 0), tmp_path / "proofs")
        (publishing,) = store.publishing()
        publisher.publish_job(publishing)
        failed = store.get(job.id)
        assert failed is not None and failed.state == "failed", failed
        assert failed.error and failed.error.startswith("epoch 4242: "), failed.error
    finally:
        store.close()


def proved_epoch(model: Any, market: Market, folder: Path) -> tuple[int, str, Any]:
    """A new epoch pushed to the feed, its attested input (as stored) and a real proof of it."""
    from zkml.oracle.feed import attested_input
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.proving.warm import WarmProver

    (epoch,) = market.push(1)
    spec = ReturnsSpec(model.spec.inputs[0].shape[1], model.spec.circuit.settings.input_scales[0], 100)
    text = model.check_input(attested_input(market.conn, market.feed, epoch, spec).input_data(), folder / "check")
    (folder / "input.json").write_text(text)
    return epoch, text, WarmProver(model.spec, folder / "proofs").prove(folder / "input.json")


def publishing_job(store: Any, model: Any, epoch: int, text: str, proof: Any) -> str:
    """A job of ``store``'s replica, proved with ``proof`` and waiting to publish; its id."""
    job, _ = store.submit(model.name, text, publish=True, epoch=epoch)
    store.claim(model.name, 1)
    store.proved(job.id, outputs=proof.outputs, proof=Path(proof.proof.path).read_text(), verified=True, witness_seconds=0, prove_seconds=0)
    return str(job.id)


def test_a_prediction_already_on_chain_is_recorded_not_sent_again(served: Any, market: Market, signer: str, tmp_path: Path) -> None:
    from dataclasses import replace

    from zkml.oracle.client import publish
    from zkml.serve.metrics import ServeMetrics
    from zkml.serve.publisher import Publisher
    from zkml.serve.store import JobStore

    model = replace(served, binding=market.binding())
    epoch, text, proof = proved_epoch(model, market, tmp_path)
    first = publish(market.conn, market.oracle, market.model_id, Path(proof.proof.path), epochs=[epoch])  # the CLI's path, first
    store = JobStore(str(tmp_path / "jobs.sqlite"))
    try:
        job_id = publishing_job(store, model, epoch, text, proof)
        (job,) = store.claim_publishing()
        Publisher(store, {model.name: model}, ServeMetrics(lambda: 0), tmp_path / "pub").publish_job(job)
        done = store.get(job_id)
        assert done is not None and done.state == "done" and done.prediction, done
        assert json.loads(done.prediction)["replayed"] is True and done.gas_used is None
        assert [tx for e, tx in market.published() if e == epoch] == [first.tx_hash]  # published once, by the first
    finally:
        store.close()


def test_a_replica_that_lost_the_publishing_lease_sends_nothing(served: Any, market: Market, signer: str, tmp_path: Path) -> None:
    """Two replicas' publishers on one store: the one whose lease was taken over stops before sending; the holder publishes once."""
    from dataclasses import replace

    from zkml.serve.metrics import ServeMetrics
    from zkml.serve.publisher import Publisher
    from zkml.serve.store import JobStore

    model = replace(served, binding=market.binding())
    epoch, text, proof = proved_epoch(model, market, tmp_path)
    slow, holder = (JobStore(str(tmp_path / "jobs.sqlite"), owner=o) for o in ("slow", "holder"))
    try:
        job_id = publishing_job(slow, model, epoch, text, proof)
        (seen,) = slow.claim_publishing()  # the slow replica is about to publish it...
        slow.lease_s = -1.0  # ...and stalls past its lease; the other replica takes the job over
        slow.heartbeat()
        assert holder.expire_leases() == 1 and [j.id for j in holder.claim_publishing()] == [job_id]
        sender = market.conn.w3.eth.account.from_key(signer).address
        nonce = market.conn.w3.eth.get_transaction_count(sender)
        Publisher(slow, {model.name: model}, ServeMetrics(lambda: 0), tmp_path / "slow").publish_job(seen)
        assert market.conn.w3.eth.get_transaction_count(sender) == nonce  # nothing sent
        left = holder.get(job_id)
        assert left is not None and (left.state, left.owner, left.tx_hash) == ("publishing", "holder", None)  # nor failed, nor recorded
        (held,) = holder.claim_publishing()
        Publisher(holder, {model.name: model}, ServeMetrics(lambda: 0), tmp_path / "holder").publish_job(held)
        done = holder.get(job_id)
        assert done is not None and done.state == "done" and done.tx_hash
        assert [tx for e, tx in market.published() if e == epoch] == [done.tx_hash]
    finally:
        slow.close()
        holder.close()
