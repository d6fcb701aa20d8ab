"""Multi-feed rows of :mod:`benchmarks.oracle_gas`: one batch-B proof over B feeds at ONE epoch (issue 25, item 3).

On the benchmark's anvil, with its oracle and its batch-B circuit and verifier: B local feeds, feed k filled
with the example price series shifted by k rounds (so the B windows at an epoch differ), one
ReturnsFeatureSource per feed, the batch-B model registered with ``registerModelMultiFeed`` (which creates
each feed's published-epoch word and record slot). Batch 1: the feeds' common latest epoch, the model's
first submission. Then one more round on every feed and batch 2. Each submission is also
sent straight to the verifier (bare) and traced, so its gas splits into verification, feed reads (the B
sources' ``latestEpoch`` + ``instancesAt([E])``, caller side), storage (SSTORE) and the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGET_FEEDS_PER_PREDICTION = 150_000


def measure_feeds(
    conn: Any,
    rec: Path,
    oracle: str,
    batched: Any,
    verifier: str,
    bounds: tuple[tuple[int, int], ...],
    series: list[float],
    feed_cfg: Any,
    policy: Any,
    contracts: Any,
    sender: Any,
) -> dict[str, Any]:
    """The multi-feed figures (see the module docstring); ``series`` is the example price series, long enough
    for ``window + 3 + B`` rounds per feed."""
    from benchmarks.oracle_gas import _summary, check_instances, source_reads, trace_breakdown, view_estimate
    from zkml.evm.onchain import read_proof, verify_onchain
    from zkml.oracle.client import publish
    from zkml.oracle.feed import deploy_feeds, push_prices
    from zkml.oracle.layout import model_spec
    from zkml.oracle.mirror import ReturnsSpec, answer_of
    from zkml.oracle.multi_feed import common_epoch, deploy_sources, feed_batch, prove_feed_batch
    from zkml.oracle.registry import register_model

    spec = model_spec(batched.spec.circuit.settings.path)
    b, window = spec.batch_size, spec.sample_width
    returns = ReturnsSpec(window, spec.input_scale, feed_cfg.multiplier)
    rounds = window + 3
    deployed = deploy_feeds(conn, rec / "multi_feed", b, decimals=feed_cfg.decimals, description="oracle_gas feed", sender=sender)
    feeds = tuple(feed.address for _, _, feed in deployed)
    # Feed k: the series shifted by k rounds; the last b + 1 prices are held back for the second batch's round.
    shifted = [series[len(series) - rounds - 1 - k : len(series) - 1 - k] for k in range(b)]
    for feed, prices in zip(feeds, shifted, strict=True):
        push_prices(conn, feed, [answer_of(p, feed_cfg.decimals) for p in prices], sender=sender, contracts=contracts)
    sources = deploy_sources(conn, rec / "multi_feed", feeds, returns, sender=sender, contracts=contracts)
    bounds = _covering(bounds, [answer_of(p, feed_cfg.decimals) for p in series], returns)
    names = {verifier.lower(): "verifier"} | {s.lower(): "source" for s in sources} | {f.lower(): "feed" for f in feeds}
    reg = register_model(
        conn, oracle, b"\x25" * 32, verifier, spec, bounds=bounds, feeds=sources, max_epoch_lag=feed_cfg.max_epoch_lag,
        max_age=policy.max_age, sender=sender, contracts=contracts,
    )  # fmt: skip
    out: dict[str, Any] = {"register": reg.gas_used, "feeds": b, "registered_bounds": [list(x) for x in bounds]}
    for label in ("first", "second"):
        if label == "second":
            for k, feed in enumerate(feeds):
                price = series[len(series) - 1 - k]
                push_prices(conn, feed, [answer_of(price, feed_cfg.decimals)], sender=sender, contracts=contracts)
        epoch = common_epoch(conn, feeds, contracts=contracts)
        batch = feed_batch(conn, feeds, epoch, returns, contracts=contracts)
        proof = prove_feed_batch(batched.spec, rec / "multi_feed" / "proofs", batch, spec, bounds)
        proved = spec.input_instances(read_proof(proof).instances)
        for k, source in enumerate(sources):
            check_instances(conn, source, [epoch], proved[k * window : (k + 1) * window], contracts, f"multi-feed sample {k}")
        bare = verify_onchain(conn, verifier, proof, send=True, sender=sender)
        if not bare.accepted or bare.gas_used is None:
            raise SystemExit(f"the verifier rejected the multi-feed proof: {bare.reason}")
        pub = publish(conn, oracle, reg.model_id, proof, epochs=batch.epochs, sender=sender, contracts=contracts)
        assert pub.gas_used is not None and pub.tx_hash is not None
        if len(pub.batch) != b:
            raise SystemExit(f"the multi-feed batch stored {len(pub.batch)} predictions, not {b}")
        trace = trace_breakdown(conn, pub.tx_hash, names)
        summary = _summary(trace)
        out[label] = {
            "epoch": epoch,
            "submit": pub.gas_used,
            "submit_per_prediction": pub.gas_used // b,
            "verify_bare": bare.gas_used,
            "verify_bare_per_prediction": bare.gas_used // b,
            "verification_per_prediction": summary.get("call: verifier", 0) // b,
            "feed_reads_per_prediction": sum(source_reads(trace).values()) // b,
            "storage_per_prediction": summary["oracle: SSTORE"] // b,
            "events_per_prediction": summary["oracle: events (LOG)"] // b,
            "calldata_per_prediction": summary["intrinsic (21,000 + calldata)"] // b,
            "rest_per_prediction": (summary["oracle: SLOAD"] + summary["oracle: other opcodes"]) // b,
            "breakdown": summary,
            "predictions": [list(p.floats) for p in pub.batch],
        }
    out["read_feed_estimate"] = view_estimate(conn, contracts.oracle, oracle, "feedPrediction", reg.model_id, 0)
    return out


def _covering(bounds: tuple[tuple[int, int], ...], answers: list[int], returns: Any) -> tuple[tuple[int, int], ...]:
    """``bounds`` widened to every return of the series (each feed's windows are windows of it), as the batch
    rows of the benchmark widen theirs: the row measures gas, not the calibration's coverage."""
    from zkml.evm.felts import felt_to_int
    from zkml.oracle.mirror import encode_felt, quantized_return

    values = [felt_to_int(encode_felt(quantized_return(a, b, returns))) for a, b in zip(answers, answers[1:], strict=False)]
    low, high = min(values), max(values)
    return tuple((min(lo, low), max(hi, high)) for lo, hi in bounds)


def feeds_rows(result: dict[str, Any]) -> list[tuple[str, int | None]]:
    """The Gas table's multi-feed rows."""
    m = result["gas"]["multi_feed"]
    b = m["feeds"]
    rows: list[tuple[str, int | None]] = [
        (f"**B={b} over {b} feeds at one epoch (multi-feed)**", None),
        (f"registerModelMultiFeed, B={b}, {b} sources (once per model)", m["register"]),
    ]
    for name, what in (("first", "batch 1 (the model's first submission)"), ("second", "batch 2 (the next round)")):
        item = m[name]
        rows += [
            (f"verifier alone: verifyProof sent directly ({name} batch proof), per prediction", item["verify_bare_per_prediction"]),
            (f"submitAttested, {what}: {b} feeds at epoch {item['epoch']}", item["submit"]),
            (f"  **per prediction** (target ≤ {TARGET_FEEDS_PER_PREDICTION:,})", item["submit_per_prediction"]),
            ("    verification (the verifier call), per prediction", item["verification_per_prediction"]),
            ("    feed reads (latestEpoch + instancesAt([E]) of each feed's source), per prediction", item["feed_reads_per_prediction"]),
            ("    storage (SSTORE: the feed's published-epoch word and its record slot), per prediction", item["storage_per_prediction"]),
            ("    events, per prediction", item["events_per_prediction"]),
            ("    intrinsic (21,000 + calldata), per prediction", item["calldata_per_prediction"]),
            ("    the rest (SLOAD and other opcodes of the oracle), per prediction", item["rest_per_prediction"]),
        ]
    rows.append(("feedPrediction(model, 0) (view, eth_estimateGas, incl. 21,000)", m["read_feed_estimate"]))
    return rows


def feeds_targets(result: dict[str, Any]) -> list[str]:
    """The Targets table's multi-feed rows (issue 25)."""
    from benchmarks.oracle_gas import _pass

    m = result["gas"]["multi_feed"]
    b = m["feeds"]
    return [
        f"| B={b} over {b} feeds at one epoch, submit per prediction ≤ {TARGET_FEEDS_PER_PREDICTION:,} (issue 25): {what} | "
        f"{m[name]['submit_per_prediction']:,} | {_pass(m[name]['submit_per_prediction'], TARGET_FEEDS_PER_PREDICTION)} |"
        for name, what in (("first", "batch 1"), ("second", "batch 2"))
    ]


__all__ = ["TARGET_FEEDS_PER_PREDICTION", "feeds_rows", "feeds_targets", "measure_feeds"]
