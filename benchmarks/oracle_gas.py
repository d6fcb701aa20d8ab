"""Gas of the verified-prediction oracle with attested inputs, on circuits/mlp_regressor, measured on a local anvil.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.oracle_gas [--build-dir build/bench] [--batch-size 16]

It runs (or reuses) the circuit's workspace in ``BUILD_DIR/oracle_gas/mlp_regressor`` and a
batch-B build of it in ``BUILD_DIR/oracle_gas/b16``, both before any chain starts. Then, on an
anvil of its own (``zkml.evm.anvil.local_anvil``), everything is deployed fresh: the verifiers
(recorded in those two folders) and a PushFeed filled with the circuit's example price series,
a ReturnsFeatureSource over it, the oracle with the B=1 model registered as attested, and the
ForecastVault (recorded in a temporary folder).

B=1: three proofs, each submitted with ``submitAttested`` and also sent straight to the
verifier (``verifyProof`` with the same proof and instances) for the bare verifier gas: the
model's first submission (the latest epoch), the next epoch after one more round (steady
state), and an epoch two rounds behind the latest. B: a proof of B consecutive epochs'
windows, submitted and sent to its verifier alone; then B more rounds and a second batch.

Before each submission, the proof's input instances are compared with what the feature
source answers for its epochs; a difference stops the run. Each submission is traced
(``debug_traceTransaction``: the call tree and the opcode log) to
attribute its gas to calldata, the verifier call, the feature-source reads, storage
writes, events and the rest. Every number is a mined transaction's ``gasUsed`` or taken
from these traces, except reads, which are ``eth_estimateGas`` of the view call.

Last, :mod:`benchmarks.oracle_vka_run`: ``zkml run`` on a model whose plain verifier is over
EIP-170, through the reusable verifier and its VKA to an attested prediction.

Writes ``benchmarks/results/oracle_gas.json`` and ``benchmarks/results/oracle_gas.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CIRCUIT = "mlp_regressor"
TARGET_B1_OVERHEAD = 150_000
TARGET_BATCH_PER_PREDICTION = 80_000
TX_BASE = 21_000
COLD_SLOAD, COLD_ACCOUNT = 2_100, 2_600  # EIP-2929
CALL_OPS = {"CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"}
# Addresses below this are precompiles: calls to them open no frame in the opcode log.
PRECOMPILE_LIMIT = 0x10000


# --------------------------------------------------------------------------- chain helpers


def _rpc(conn: Any, method: str, params: list[Any]) -> Any:
    response = conn.w3.provider.make_request(method, params)
    if "error" in response:
        raise RuntimeError(f"{method} failed: {response['error']}")
    return response["result"]


def calldata_gas(data: bytes) -> int:
    """Intrinsic gas of a transaction's calldata: 4 per zero byte, 16 per other byte (EIP-2028)."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def tx_input(conn: Any, tx_hash: str) -> bytes:
    return bytes(conn.w3.eth.get_transaction(tx_hash)["input"])


def _calls_preorder(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The call tree's frames in execution order, precompiles left out (they open no frame)."""
    out = []
    for child in node.get("calls") or []:
        if int(child["to"], 16) >= PRECOMPILE_LIMIT:
            out.append(child)
            out.extend(_calls_preorder(child))
    return out


def trace_breakdown(conn: Any, tx_hash: str, names: dict[str, str]) -> dict[str, Any]:
    """Where a mined transaction's gas went, from anvil's ``debug_traceTransaction``.

    The top frame's opcodes are summed by kind (SSTORE, SLOAD, LOG*, the rest); each call it
    makes is costed from the caller's side (gas before the call opcode minus gas after it
    returns: the callee's execution, cold-account access, memory and the 63/64 rule included)
    and labelled with the callee's name and function selector; each such call gets an opcode
    histogram of its own frame (the calls it makes costed the same way, and counted).

    Args:
        names: lower-case address -> label (``verifier``, ``source``, ``feed``).

    Returns:
        ``gas_used``, ``intrinsic`` (21,000 + calldata), ``calldata_bytes``, ``execution``, ``refund``,
        ``top`` (kind -> gas in the top frame), ``calls`` (one entry per top-level call: label, gas,
        callee's own gasUsed, ``ops`` (its frame's costliest opcodes) and ``calls_made`` (label -> count)).
    """
    receipt = conn.w3.eth.get_transaction_receipt(tx_hash)
    data = tx_input(conn, tx_hash)
    tree = _rpc(conn, "debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    frames = _calls_preorder(tree)
    log = _rpc(conn, "debug_traceTransaction", [tx_hash, {"disableStack": True, "disableStorage": True, "enableMemory": False}])
    steps = log["structLogs"]
    base_depth = steps[0]["depth"]
    top_ops: dict[str, int] = {}
    cold_sloads = 0
    calls: list[dict[str, Any]] = []
    frame_index = 0
    # Open frames, innermost last: (depth of the call opcode, gas before it, the callee's record).
    stack: list[tuple[int, int, dict[str, Any]]] = []
    for i, step in enumerate(steps):
        depth = step["depth"]
        while stack and depth <= stack[-1][0]:
            _, before, closed = stack.pop()
            closed["gas"] = before - step["gas"]
            owner = stack[-1][2]["ops"] if stack else top_ops
            key = f"call {closed['label']}"
            owner[key] = owner.get(key, 0) + closed["gas"]
            if stack:
                made = stack[-1][2]["calls_made"]
                made[closed["label"]] = made.get(closed["label"], 0) + 1
        owner_ops = stack[-1][2]["ops"] if stack else top_ops
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if step["op"] in CALL_OPS and nxt is not None and nxt["depth"] == depth + 1:
            frame = frames[frame_index]
            frame_index += 1
            label = names.get(frame["to"].lower(), frame["to"])
            record = {
                "label": label,
                "selector": frame["input"][:10],
                "callee_gas_used": int(frame["gasUsed"], 16),
                "ops": {},
                "calls_made": {},
            }
            if depth == base_depth:
                calls.append(record)
            stack.append((depth, step["gas"], record))
            continue
        # A call that opened no frame (a precompile) costs what it took; gasCost would count the gas it was given.
        cost = step["gas"] - nxt["gas"] if step["op"] in CALL_OPS and nxt is not None else int(step["gasCost"])
        owner_ops[step["op"]] = owner_ops.get(step["op"], 0) + cost
        if step["op"] == "SLOAD" and depth == base_depth and cost >= COLD_SLOAD:
            cold_sloads += 1
    top: dict[str, int] = {}
    for op, cost in top_ops.items():
        if op.startswith("call "):
            continue
        kind = "SSTORE" if op == "SSTORE" else "SLOAD" if op == "SLOAD" else "LOG" if op.startswith("LOG") else "other"
        top[kind] = top.get(kind, 0) + cost
    for call in calls:
        call["ops"] = _top_ops(call["ops"])
    intrinsic = TX_BASE + calldata_gas(data)
    execution = steps[0]["gas"] - steps[-1]["gas"] + int(steps[-1]["gasCost"])
    gas_used = int(receipt["gasUsed"])
    return {
        "gas_used": gas_used,
        "intrinsic": intrinsic,
        "calldata_bytes": len(data),
        "execution": execution,
        "refund": intrinsic + execution - gas_used,
        "top": top,
        "top_ops": _top_ops(top_ops),
        "top_cold_sloads": cold_sloads,
        "calls": calls,
        "opcode_steps": len(steps),
    }


def _top_ops(ops: dict[str, int], keep: int = 12) -> dict[str, int]:
    """The costliest opcodes (and calls) of a frame, the rest summed as ``rest``."""
    ranked = sorted(ops.items(), key=lambda item: -item[1])
    out = dict(ranked[:keep])
    if len(ranked) > keep:
        out["rest"] = sum(cost for _, cost in ranked[keep:])
    return out


def _summary(trace: dict[str, Any], frame: str = "oracle") -> dict[str, int]:
    """A trace as the buckets the tables show (they add up to gasUsed + refund); ``frame`` names the top frame."""
    out = {"intrinsic (21,000 + calldata)": trace["intrinsic"]}
    for call in trace["calls"]:
        key = f"call: {call['label']}"
        out[key] = out.get(key, 0) + call["gas"]
    top = trace["top"]
    if frame == "oracle":
        out["oracle: SSTORE"] = top.get("SSTORE", 0)
        out["oracle: events (LOG)"] = top.get("LOG", 0)
        out["oracle: SLOAD"] = top.get("SLOAD", 0)
        out["oracle: other opcodes"] = top.get("other", 0)
    else:
        out[f"{frame} execution"] = sum(top.values())
    return out


def source_reads(trace: dict[str, Any]) -> dict[str, int]:
    """The submission's feature-source reads, from the caller's side (one entry per function)."""
    selectors = {}
    for call in trace["calls"]:
        if call["label"] == "source":
            selectors[call["selector"]] = selectors.get(call["selector"], 0) + call["gas"]
    return selectors


def view_estimate(conn: Any, compiled: Any, address: str, fn: str, *args: Any) -> int:
    """``eth_estimateGas`` of a view call (includes the 21,000 intrinsic gas and the calldata)."""
    from zkml.evm.rpc import estimate_gas
    from zkml.oracle.calls import bind

    contract = bind(conn, address, compiled)
    return estimate_gas(conn, contract.address, contract.encode_abi(fn, args=list(args)), f"estimating {fn}")


def code_size(conn: Any, address: str) -> int:
    from zkml.evm.rpc import code_at

    return len(code_at(conn, address))


def advance_time(conn: Any, seconds: int) -> None:
    _rpc(conn, "evm_increaseTime", [seconds])
    _rpc(conn, "evm_mine", [])


# --------------------------------------------------------------------------- circuits (before any chain)


def build_circuits(build_dir: Path, batch_size: int) -> tuple[Any, Any, Any]:
    """The B=1 pipeline (run or reused) and the batch-B circuit built with the same input and param scales."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.proving.batch import build_batched
    from zkml.workspace import Layout, Workspace

    config = load_config(HERE.parent / "circuits" / CIRCUIT)
    pipeline = Pipeline(config, Workspace(build_dir / "oracle_gas" / CIRCUIT))
    summary = pipeline.run()
    if not summary.verified:
        raise SystemExit(f"the {CIRCUIT} proof did not verify: {summary.verify_reason}")
    run_args = json.loads(Layout(pipeline.ws.root).settings.read_text())["run_args"]
    # Same scales as the B=1 circuit: one feature source (one quantization) serves both models.
    batched_config = config.with_circuit(input_scale=run_args["input_scale"], param_scale=run_args["param_scale"])
    batched = build_batched(batched_config, batch_size, build_dir / "oracle_gas" / f"b{batch_size}", device="cpu")
    return config, pipeline, batched


# --------------------------------------------------------------------------- the measurement


class InstanceMismatch(SystemExit):
    """A proof's input instances differ from the feature source's: a bug, reported precisely."""


def check_instances(conn: Any, source: str, epochs: Sequence[int], proved: Sequence[int], contracts: Any, what: str) -> None:
    from zkml.oracle.feed import source_instances

    attested, _ = source_instances(conn, source, epochs, contracts=contracts)
    proved = [int(v) for v in proved]
    if proved != attested:
        width = len(attested) // len(epochs)
        diffs = [
            f"epoch {epochs[i // width]} feature {i % width}: proved {p:#x}, source {a:#x}"
            for i, (p, a) in enumerate(zip(proved, attested, strict=False))
            if p != a
        ]
        raise InstanceMismatch(
            f"{what}: the proof's {len(proved)} input instances differ from the source's {len(attested)} "
            f"({len(diffs)} differ): " + "; ".join(diffs[:8])
        )


def measure(build_dir: Path, batch_size: int, contracts_dir: Path | None = None) -> dict[str, Any]:
    """Run the attested oracle flow at B=1 and B=``batch_size`` on a fresh anvil; return every figure.

    Args:
        build_dir: where the circuit's workspace and its batched build live (reused while current).
        batch_size: samples per batched proof.
        contracts_dir: compile the oracle, vault, feed and source from this folder of ``.sol`` files instead
            of the package's (to measure a variant of the contracts before changing them).
    """
    import numpy as np

    from zkml.config import ConsumerConfig, FeedConfig
    from zkml.data import Samples, write_samples
    from zkml.evm.anvil import local_anvil
    from zkml.evm.onchain import read_proof, verify_onchain
    from zkml.evm.rpc import connect, resolve_sender
    from zkml.oracle.attest import check_bounds, prove_attested
    from zkml.oracle.binding import check_verifier, quantized_bounds
    from zkml.oracle.client import deploy_oracle, publish, read_prediction
    from zkml.oracle.compile import compile_contracts
    from zkml.oracle.consumer import consumer_act, deploy_consumer
    from zkml.oracle.demo import demo_prices
    from zkml.oracle.feed import attested_input, deploy_feed, deploy_source, latest_epoch, push_prices
    from zkml.oracle.layout import model_spec
    from zkml.oracle.mirror import ReturnsSpec, answer_of
    from zkml.oracle.registry import register_model, register_workspace, workspace_model
    from zkml.proving.batch import deploy_batch_verifier
    from zkml.proving.warm import WarmProver

    config, pipeline, batched = build_circuits(build_dir, batch_size)
    feed_cfg = config.feed or FeedConfig()
    policy = config.consumer or ConsumerConfig()
    contracts = compile_contracts(folder=contracts_dir)
    model = workspace_model(pipeline)
    spec = ReturnsSpec(window=model.spec.sample_width, scale=model.spec.input_scale, multiplier=feed_cfg.multiplier)
    # demo_rounds at first, one more round for the second B=1 submission, then batch_size more for the second batch.
    rounds = max(feed_cfg.demo_rounds, batch_size + spec.window + 2)
    prices = demo_prices(pipeline, dataclasses.replace(feed_cfg, demo_rounds=rounds + 1 + batch_size))
    answers = [answer_of(p, feed_cfg.decimals) for p in prices]
    gas: dict[str, Any] = {}
    traces: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    sizes: dict[str, int] = {}

    with tempfile.TemporaryDirectory() as tmp, local_anvil(extra_args=("--steps-tracing",)) as node:  # opcode logs for the traces
        rec = Path(tmp)
        conn = connect(node.url)
        sender = resolve_sender(conn)
        verifier = pipeline.deploy(conn, sender=sender)
        oracle = deploy_oracle(conn, rec, sender=sender, contracts=contracts)
        feed = deploy_feed(conn, rec, decimals=feed_cfg.decimals, description="oracle_gas feed", sender=sender, contracts=contracts)
        pushed = push_prices(conn, feed.address, answers[:rounds], sender=sender, contracts=contracts)
        source = deploy_source(conn, rec, feed.address, spec, sender=sender, contracts=contracts)
        registration = register_workspace(
            conn, oracle.address, pipeline, verifier=verifier.address, feature_source=source.address,
            max_epoch_lag=feed_cfg.max_epoch_lag, max_age=policy.max_age, sender=sender, contracts=contracts,
        )  # fmt: skip
        vault = deploy_consumer(conn, oracle.address, registration.model_id, rec, config=policy, sender=sender, contracts=contracts)
        gas.update(
            deploy_verifier=verifier.gas_used,
            deploy_oracle=oracle.gas_used,
            deploy_feed=feed.gas_used,
            push_rounds=pushed.gas_used,
            pushed_rounds=pushed.last_round - pushed.first_round + 1,
            deploy_source=source.gas_used,
            register_attested=registration.gas_used,
            deploy_vault=vault.gas_used,
        )
        names = {verifier.address.lower(): "verifier", source.address.lower(): "source", feed.address.lower(): "feed"}
        model_id = registration.model_id

        # ---- B=1: the model's first submission (the latest epoch), the next epoch after one more round
        # (steady state), and an epoch two rounds behind the feed (its rounds are not warmed by latestEpoch()).
        b1: dict[str, Any] = {}
        for label in ("first", "second", "lagging"):
            if label == "second":
                push_prices(conn, feed.address, answers[rounds : rounds + 1], sender=sender, contracts=contracts)
            newest = latest_epoch(conn, feed.address, contracts=contracts)
            epoch = newest - 2 if label == "lagging" else newest
            attested = attested_input(conn, feed.address, epoch, spec, contracts=contracts)
            proof = rec / f"b1_{epoch}.proof.json"
            shutil.copyfile(prove_attested(pipeline, attested, model.spec, registration.bounds), proof)
            proved = model.spec.input_instances(read_proof(proof).instances)
            check_instances(conn, source.address, [epoch], proved, contracts, f"B=1 epoch {epoch}")
            bare = verify_onchain(conn, verifier.address, proof, send=True, sender=sender)
            if not bare.accepted or bare.gas_used is None:
                raise SystemExit(f"the verifier rejected the B=1 proof of epoch {epoch}: {bare.reason}")
            pub = publish(conn, oracle.address, model_id, proof, epochs=[epoch], sender=sender, contracts=contracts)
            assert pub.gas_used is not None and pub.tx_hash is not None
            trace = trace_breakdown(conn, pub.tx_hash, names)
            bare_trace = trace_breakdown(conn, bare.tx_hash or "", names)
            reads = source_reads(trace)
            b1[label] = {
                "epoch": epoch,
                "latest_epoch": newest,
                "submit": pub.gas_used,
                "verify_bare": bare.gas_used,
                "overhead": pub.gas_used - bare.gas_used,
                "calldata_bytes_submit": trace["calldata_bytes"],
                "calldata_bytes_bare": bare.calldata_bytes,
                "negative_inputs": sum(1 for v in proved if _signed(v) < 0),
                "source_reads_in_submit": sum(reads.values()),
                "source_reads_by_selector": reads,
                "feed_calls_in_instances_at": _feed_calls(trace),
                "breakdown": _summary(trace),
                "bare_breakdown": _summary(bare_trace, "verifier"),
                "cold_sloads": trace["top_cold_sloads"],
                "prediction": list(pub.prediction.floats),
            }
            traces[f"b1_{label}"] = trace
            if label == "first":
                _, gas["read_latest_estimate"] = read_prediction(conn, oracle.address, model_id, contracts=contracts)
                _, gas["read_at_estimate"] = read_prediction(conn, oracle.address, model_id, epoch=epoch, contracts=contracts)
                state, gas["rebalance_first"] = consumer_act(conn, vault.address, sender=sender, contracts=contracts)
                b1["vault_after_first"] = state.target_risky_bps
            elif label == "second":
                advance_time(conn, policy.cooldown + 1)
                state, gas["rebalance_second"] = consumer_act(conn, vault.address, sender=sender, contracts=contracts)
                b1["vault_after_second"] = state.target_risky_bps
        latest = latest_epoch(conn, feed.address, contracts=contracts)
        # The feed-reading cost measured alone: a transaction to the source (the source is then warm
        # and its call from the oracle costs nothing extra), minus the 21,000 of the transaction.
        gas["source_latest_epoch_estimate_minus_21000"] = view_estimate(conn, contracts.source, source.address, "latestEpoch") - TX_BASE
        gas["source_instances_at_1_estimate_minus_21000"] = (
            view_estimate(conn, contracts.source, source.address, "instancesAt", [latest]) - TX_BASE
        )
        gas["b1"] = b1

        # ---- batch: batch_size consecutive epochs in one proof
        bspec = model_spec(batched.spec.circuit.settings.path)
        if bspec.batch_size != batch_size or bspec.sample_width != model.spec.sample_width:
            raise SystemExit(f"the batched layout is unexpected: {bspec}")
        bsource = source
        if bspec.input_scale != model.spec.input_scale:  # calibration chose another scale: a source of its own
            bsource = deploy_source(
                conn, rec / "batched", feed.address, ReturnsSpec(spec.window, bspec.input_scale, spec.multiplier),
                sender=sender, contracts=contracts,
            )  # fmt: skip
            names[bsource.address.lower()] = "source"
        bret = ReturnsSpec(window=spec.window, scale=bspec.input_scale, multiplier=spec.multiplier)
        folder = Path(batched.root)
        deployed = deploy_batch_verifier(conn, batched.spec, folder, kind="plain")
        names[deployed.address.lower()] = "verifier"
        binding = check_verifier(conn, deployed.address, folder)
        calibrated = quantized_bounds(batched.spec.input_ranges or (), batched.spec.range_margin, bspec.input_scale, bspec.sample_width)
        batches: dict[str, Any] = {}
        bounds_used = calibrated
        prover = WarmProver(batched.spec, rec / "proofs")
        breg = None
        for label in ("first", "second"):
            if label == "second":
                push_prices(conn, feed.address, answers[rounds + 1 : rounds + 1 + batch_size], sender=sender, contracts=contracts)
            top = latest_epoch(conn, feed.address, contracts=contracts)
            epochs = list(range(top - batch_size + 1, top + 1))
            inputs = [attested_input(conn, feed.address, e, bret, contracts=contracts) for e in epochs]
            outside = []
            for item in inputs:
                try:
                    check_bounds(item.instances, calibrated, epoch=item.epoch)
                except Exception as exc:  # noqa: BLE001 - recorded, and the bounds widened below
                    outside.append(str(exc))
            checks[f"batch_{label}_windows_in_calibrated_bounds"] = not outside
            if breg is None:
                if outside:
                    # Register bounds that cover the windows too (reported in the results).
                    lows = [min(lo, *(_signed(i.instances[j]) for i in inputs)) for j, (lo, _) in enumerate(calibrated)]
                    highs = [max(hi, *(_signed(i.instances[j]) for i in inputs)) for j, (_, hi) in enumerate(calibrated)]
                    bounds_used = tuple(zip(lows, highs, strict=True))
                breg = register_model(
                    conn, oracle.address, workspace_model(folder).model_id_for(bsource.address), deployed.address, bspec,
                    bounds=bounds_used, source=bsource.address, max_epoch_lag=batch_size, max_age=policy.max_age,
                    codehash=binding.codehash, sender=sender, contracts=contracts,
                )  # fmt: skip
                gas["register_batched"] = breg.gas_used
            elif outside:
                raise SystemExit(f"the second batch's windows are outside the registered bounds: {outside[:2]}")
            input_path = rec / f"batch_{label}.json"
            values = np.asarray([item.values for item in inputs], dtype=np.float64)
            write_samples(input_path, Samples((values.reshape(batched.spec.inputs[0].shape),)))
            proved = prover.prove(input_path)
            proof = Path(proved.proof.path)
            proved_inputs = bspec.input_instances(read_proof(proof).instances)
            check_instances(conn, bsource.address, epochs, proved_inputs, contracts, f"B={batch_size} {label}")
            bare = verify_onchain(conn, deployed.address, proof, send=True, sender=sender)
            if not bare.accepted or bare.gas_used is None:
                raise SystemExit(f"the verifier rejected the B={batch_size} proof: {bare.reason}")
            pub = publish(conn, oracle.address, breg.model_id, proof, epochs=epochs, sender=sender, contracts=contracts)
            assert pub.gas_used is not None and pub.tx_hash is not None
            if len(pub.batch) != batch_size:
                raise SystemExit(f"the batch stored {len(pub.batch)} predictions, not {batch_size}")
            trace = trace_breakdown(conn, pub.tx_hash, names)
            bare_trace = trace_breakdown(conn, bare.tx_hash or "", names)
            reads = source_reads(trace)
            batches[label] = {
                "epochs": [epochs[0], epochs[-1]],
                "submit": pub.gas_used,
                "submit_per_prediction": pub.gas_used // batch_size,
                "verify_bare": bare.gas_used,
                "verify_bare_per_prediction": bare.gas_used // batch_size,
                "overhead": pub.gas_used - bare.gas_used,
                "overhead_per_prediction": (pub.gas_used - bare.gas_used) // batch_size,
                "calldata_bytes_submit": trace["calldata_bytes"],
                "calldata_bytes_bare": bare.calldata_bytes,
                "negative_inputs": sum(1 for v in proved_inputs if _signed(v) < 0),
                "source_reads_in_submit": sum(reads.values()),
                "source_reads_per_prediction": sum(reads.values()) // batch_size,
                "source_reads_by_selector": reads,
                "feed_calls_in_instances_at": _feed_calls(trace),
                "breakdown": _summary(trace),
                "bare_breakdown": _summary(bare_trace, "verifier"),
                "prove_seconds": round(proved.prove_seconds, 2),
            }
            traces[f"batch_{label}"] = trace
            if label == "first":
                _, gas["batch_read_at_estimate"] = read_prediction(
                    conn, oracle.address, breg.model_id, epoch=epochs[0], contracts=contracts
                )
                gas["source_instances_at_batch_estimate_minus_21000"] = (
                    view_estimate(conn, contracts.source, bsource.address, "instancesAt", epochs) - TX_BASE
                )
        gas["batch"] = batches
        from benchmarks.oracle_gas_feeds import measure_feeds

        # ---- multi-feed: batch_size feeds at one epoch, through the same batch circuit and verifier
        gas["multi_feed"] = measure_feeds(
            conn, rec, oracle.address, batched, deployed.address, bounds_used, prices, feed_cfg, policy, contracts, sender
        )
        sizes = {
            "oracle": code_size(conn, oracle.address),
            "vault": code_size(conn, vault.address),
            "source": code_size(conn, source.address),
            "feed": code_size(conn, feed.address),
            "verifier_b1": code_size(conn, verifier.address),
            f"verifier_b{batch_size}": code_size(conn, deployed.address),
        }
        checks.update(
            b1_instances_match_source=True,
            batch_instances_match_source=True,
            batch_input_scale_equals_b1=bspec.input_scale == model.spec.input_scale,
            batch_bounds_registered="calibrated" if bounds_used == calibrated else "widened to cover the windows",
            batch_calibrated_bounds=[list(b) for b in calibrated],
            b1_registered_bounds=[list(b) for b in registration.bounds],
            batch_registered_bounds=[list(b) for b in bounds_used],
        )
        chain = {"name": "anvil (local, chain id 31337)", "anvil": _anvil_version(), "hardfork": _hardfork(conn)}

    return {
        "circuit": CIRCUIT,
        "batch_size": batch_size,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "chain": chain,
        "compiler": contracts.oracle.compiler.as_dict(),
        "contracts": str(contracts_dir) if contracts_dir else "zkml/oracle/contracts (the package's)",
        "contracts_sha256": contracts.sources_sha256,
        "instances_b1": model.spec.instance_count,
        f"instances_b{batch_size}": bspec.instance_count,
        "logrows": {"b1": pipeline.compile().settings.logrows, f"b{batch_size}": batched.spec.circuit.settings.logrows},
        "window": spec.window,
        "input_scale": spec.scale,
        "gas": gas,
        "runtime_bytes": sizes,
        "checks": checks,
        "traces": traces,
    }


def _signed(felt: int) -> int:
    from zkml.evm.felts import felt_to_int

    return felt_to_int(int(felt))


def _feed_calls(trace: dict[str, Any]) -> dict[str, int]:
    """Inside the source's instancesAt: how many feed reads and their gas (caller side)."""
    for call in trace["calls"]:
        if call["label"] == "source" and call["calls_made"].get("feed", 0) > 1:
            return {"count": call["calls_made"]["feed"], "gas": call["ops"].get("call feed", 0), "instances_at_gas": call["gas"]}
    return {}


def _anvil_version() -> str:
    import subprocess

    from zkml.evm.anvil import find_anvil

    out = subprocess.run([str(find_anvil()), "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def _hardfork(conn: Any) -> str:
    try:
        info = _rpc(conn, "anvil_nodeInfo", [])
        return str(info.get("hardFork") or info.get("hard_fork") or "unknown")
    except RuntimeError:
        return "unknown"


# --------------------------------------------------------------------------- the table

# Gas schedule constants the projections use (EIP-2200/2929 SSTORE of a new slot after a cold
# read, and the LOG pricing: 375 + 375 per topic + 8 per data byte).
SSTORE_NEW_SLOT = 20_000
SSTORE_UPDATE_WARM = 2_900
LOG_BASE, LOG_TOPIC, LOG_BYTE = 375, 375, 8


def _feeds_columns(result: dict[str, Any]) -> list[tuple[str, dict[str, int]]]:
    m = result["gas"].get("multi_feed")
    if not m:
        return []
    b, data = m["feeds"], m["second"]["breakdown"]
    return [(f"{b} feeds submit", data), (f"{b} feeds submit / {b}", {k: v // b for k, v in data.items()})]


def _feeds_targets(result: dict[str, Any]) -> list[str]:
    if "multi_feed" not in result["gas"]:
        return []
    from benchmarks.oracle_gas_feeds import feeds_targets

    return feeds_targets(result)


def _pass(value: int, target: int) -> str:
    if value <= target:
        return f"**pass** ({target - value:,} under)"
    return f"**FAIL** (over by {value - target:,}, {100 * (value - target) / target:.1f} %)"


def markdown(result: dict[str, Any]) -> str:
    """The committed table, with the method, the machine and the date it was measured on."""
    from benchmarks.common import machine

    g = result["gas"]
    b = result["batch_size"]
    first, second, lagging = g["b1"]["first"], g["b1"]["second"], g["b1"]["lagging"]
    b_1, b_2 = g["batch"]["first"], g["batch"]["second"]
    info = result.get("machine") or machine()
    comp = result["compiler"]
    rows = [
        ("deploy VerifiedPredictionOracle (once per chain)", g["deploy_oracle"]),
        ("deploy PushFeed (local feed; on a real chain, a Chainlink feed)", g["deploy_feed"]),
        (f"push {g['pushed_rounds']} rounds into the feed (one pushMany)", g["push_rounds"]),
        ("deploy ReturnsFeatureSource (once per feed, window and scale)", g["deploy_source"]),
        ("deploy ForecastVault (once per consumer)", g["deploy_vault"]),
        ("registerModel, attested, B=1 (once per model)", g["register_attested"]),
        ("**B=1**", None),
        (f"verifier alone: verifyProof sent directly (epoch {first['epoch']} proof)", first["verify_bare"]),
        (f"submitAttested, first submission of the model (epoch {first['epoch']} = latest)", first["submit"]),
        ("  oracle overhead over the bare verifier", first["overhead"]),
        (f"verifier alone (epoch {second['epoch']} proof)", second["verify_bare"]),
        (f"submitAttested, steady state (next round, epoch {second['epoch']} = latest)", second["submit"]),
        ("  **oracle overhead over the bare verifier** (target ≤ 150,000)", second["overhead"]),
        ("  of which feature-source reads (latestEpoch + instancesAt([E]), caller side)", second["source_reads_in_submit"]),
        (f"verifier alone (epoch {lagging['epoch']} proof)", lagging["verify_bare"]),
        (f"submitAttested, epoch {lagging['epoch']} (2 rounds behind the latest)", lagging["submit"]),
        ("  oracle overhead over the bare verifier", lagging["overhead"]),
        ("  of which feature-source reads (caller side)", lagging["source_reads_in_submit"]),
        ("feature source alone: latestEpoch(), eth_estimateGas − 21,000", g["source_latest_epoch_estimate_minus_21000"]),
        ("feature source alone: instancesAt([latest]), eth_estimateGas − 21,000", g["source_instances_at_1_estimate_minus_21000"]),
        ("latestPrediction (view, eth_estimateGas, incl. 21,000)", g["read_latest_estimate"]),
        (
            "predictionFromBatch(model, its B=1 batch, 0): the same epoch read from its batch commitment (view, eth_estimateGas, incl. 21,000)",
            g["read_at_estimate"],
        ),
        ("ForecastVault.rebalance, first (writes its slots for the first time)", g["rebalance_first"]),
        ("ForecastVault.rebalance, steady state (next epoch, after the cooldown)", g["rebalance_second"]),
        (f"**B={b}**", None),
        (f"registerModel, attested, B={b}", g["register_batched"]),
    ]
    for name, batch in (("batch 1", b_1), ("batch 2", b_2)):
        rows += [
            (f"verifier alone: verifyProof sent directly ({name} proof)", batch["verify_bare"]),
            ("  per prediction", batch["verify_bare_per_prediction"]),
            (f"submitAttested, {name}: {b} epochs {batch['epochs'][0]}..{batch['epochs'][1]}", batch["submit"]),
            (f"  **per prediction** (target ≤ {TARGET_BATCH_PER_PREDICTION:,})", batch["submit_per_prediction"]),
            ("  oracle overhead over the bare verifier, per prediction", batch["overhead_per_prediction"]),
            ("  feature-source reads inside submit, per prediction (caller side)", batch["source_reads_per_prediction"]),
        ]
    rows += [
        (f"feature source alone: instancesAt({b} epochs of batch 1), eth_estimateGas − 21,000", g["source_instances_at_batch_estimate_minus_21000"]),
        (f"predictionFromBatch on the B={b} model: sample 0 of batch 1, passing its {b} entries (view, eth_estimateGas, incl. 21,000)", g["batch_read_at_estimate"]),
    ]  # fmt: skip
    if "multi_feed" in g:
        from benchmarks.oracle_gas_feeds import feeds_rows

        rows += feeds_rows(result)
    table = [f"| {label} | |" if value is None else f"| {label} | {value:,} |" for label, value in rows]
    sizes = result["runtime_bytes"]
    sstore_same = first["breakdown"]["oracle: SSTORE"] == second["breakdown"]["oracle: SSTORE"]
    worst = max(b_1, b_2, key=lambda x: x["submit_per_prediction"])
    lines = [
        "# Oracle gas (attested inputs)",
        "",
        f"`benchmarks/oracle_gas.py` on `circuits/{result['circuit']}` (input: the last {result['window']} percent returns of a "
        f"price feed, input scale {result['input_scale']}; {result['instances_b1']} public instances at B=1, "
        f"{result[f'instances_b{b}']} at B={b}; logrows {result['logrows']['b1']} / {result['logrows'][f'b{b}']}), "
        f"{result['chain']['name']}, {result['chain']['anvil']}, hardfork {result['chain']['hardfork']}; "
        f"solc {comp['version']} ({comp['kind']}, optimizer runs {comp['optimizer']['runs']}, {comp['evm_version']}), "
        f"contracts: {result['contracts']}. Measured {result['measured_at']}.",
        "",
        "## Targets (issue 11, item 6)",
        "",
        "| target | measured | result |",
        "| --- | ---: | --- |",
        *(
            f"| B=1 oracle overhead over the bare verifier ≤ {TARGET_B1_OVERHEAD:,}: {what} | {item['overhead']:,} | "
            f"{_pass(item['overhead'], TARGET_B1_OVERHEAD)} |"
            for what, item in (
                ("first submission, epoch = latest", first),
                ("steady state, epoch = latest", second),
                ("epoch 2 rounds behind the latest", lagging),
            )
        ),
        *(
            f"| B={b} attested submit per prediction ≤ {TARGET_BATCH_PER_PREDICTION:,}: {what} | {item['submit_per_prediction']:,} | "
            f"{_pass(item['submit_per_prediction'], TARGET_BATCH_PER_PREDICTION)} |"
            for what, item in (("batch 1", b_1), ("batch 2", b_2))
        ),
        *_feeds_targets(result),
        "",
        "Issue 11 measured, before the redesign (unattested, 6 slots per prediction): B=1 overhead 181k, B=16 188,618 per prediction.",
        "",
        "## Gas",
        "",
        "| operation | gas |",
        "| --- | ---: |",
        *table,
        "",
        f"Runtime code: oracle {sizes['oracle']:,} B, vault {sizes['vault']:,} B, feature source {sizes['source']:,} B, "
        f"feed {sizes['feed']:,} B, verifier {sizes['verifier_b1']:,} B (B=1) / {sizes[f'verifier_b{b}']:,} B (B={b}) "
        "(`eth_getCode` of the deployed contracts).",
        "",
        "## Where the gas goes",
        "",
        "Each submission was traced on anvil (`debug_traceTransaction`: `callTracer` for the call tree, the opcode log for "
        "the frames). A call is costed from the caller's side: gas before the call opcode minus gas after it returns (the "
        "callee's execution plus cold-account access and memory). The rows add up to gasUsed (no refunds occurred). "
        "Bare = the same proof and instances sent straight to the verifier.",
        "",
        _breakdown_table(
            [
                ("B=1 bare", second["bare_breakdown"]),
                ("B=1 submit", second["breakdown"]),
                (f"B={b} bare", b_2["bare_breakdown"]),
                (f"B={b} submit", b_2["breakdown"]),
                (f"B={b} submit / {b}", {k: v // b for k, v in b_2["breakdown"].items()}),
                *_feeds_columns(result),
            ]
        ),
        "",
        f"(B=1: the steady-state submission; B={b}: batch 2; {b} feeds: the multi-feed batch 2, its call: source being "
        f"the {b} sources' latestEpoch + instancesAt([E]).) The verifier call inside submit costs the bare verifier's "
        "execution plus 100 (the code-hash check already warmed the verifier's account).",
        "",
        *_data_lines(result),
        "",
        *_feed_lines(result),
        "",
        f"The first submission of a model {'pays no' if sstore_same else 'pays a'} first-write premium: its SSTOREs cost "
        f"{first['breakdown']['oracle: SSTORE']:,} against {second['breakdown']['oracle: SSTORE']:,} for the next one "
        "(the model's latestEpoch shares a slot with its flags, non-zero since registration; each batch writes one new "
        "commitment slot, updates the newest-prediction record and sets its epochs' bits in a published bitmap word).",
        "",
        f"An epoch behind the model's latest stored one leaves `latestEpoch` alone (SSTORE {lagging['breakdown']['oracle: SSTORE']:,} "
        f"instead of {second['breakdown']['oracle: SSTORE']:,}), but its rounds are cold in the feed (round E = latest was "
        f"already read by `latestEpoch()`): source reads {lagging['source_reads_in_submit']:,} instead of "
        f"{second['source_reads_in_submit']:,}.",
        "",
        *_b1_lines(result),
        *_proposal_lines(result, worst),
        "## Method",
        "",
        "- Everything is deployed fresh on an anvil the script starts (`--steps-tracing`, for the opcode traces); the feed "
        "is a `PushFeed` filled with the last rounds of the circuit's example price series (`[feed] demo_series`), the "
        "source a `ReturnsFeatureSource` over it, and the B=1 model is registered with `register_workspace` (verifier code "
        "checked against the workspace's compiled verifier, calibrated bounds, attested). The B=1 proofs are made with "
        "`prove_attested` on `attested_input(conn, feed, E, spec)`; the batch proofs on the windows of "
        f"{b} consecutive epochs written as one batched input ({b}×{result['window']}, sample-major), proved by a "
        f"`WarmProver` on the B={b} circuit built by `build_batched` with the B=1 circuit's input and param scales.",
        "- Before every submission the proof's input instances are compared with the source's `instancesAt(epochs)`: "
        "all matched bit for bit (the run stops otherwise).",
        "- Bare verifier gas: `verifyProof(proof, instances)` sent as a transaction straight to the same verifier with the "
        "same proof; overhead = submitAttested gasUsed − that gasUsed. The submit calldata adds the modelId, the "
        "epochs array and ABI offsets.",
        "- Feature-source reads are reported two ways: inside submit, from the trace (what the oracle pays, "
        "including cold access to the source and the feed); and alone, `eth_estimateGas` of the source's view "
        "call minus 21,000 (the source is then the transaction's target, hence warm; that call's calldata is included).",
        "- Reads are `eth_estimateGas` of the view call and include the 21,000 intrinsic gas; a contract calling them "
        "pays the rest plus its call overhead. The vault's rebalance is measured after the first submission and again "
        "after the second (anvil's clock advanced past the cooldown).",
        f"- Bounds of the B={b} model: {_bounds_note(result)}",
        "- The feed here is the local `PushFeed` (one slot per round). A Chainlink proxy answers `getRoundData` through "
        "its phase aggregator, so each round read costs more on a real chain (not measured here).",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}, {info['date']}.",
        "",
    ]
    if result.get("reusable_run"):
        from benchmarks.oracle_vka_run import markdown_lines

        lines[-1:-1] = markdown_lines(result["reusable_run"])
    return "\n".join(lines)


def _bounds_note(result: dict[str, Any]) -> str:
    checks = result["checks"]
    b = result["batch_size"]
    inside = {label: "lie" if checks[f"batch_{label}_windows_in_calibrated_bounds"] else "do NOT all lie" for label in ("first", "second")}
    text = (
        f"the batched circuit's calibrated ranges, widened by its margin (`quantized_bounds`), were registered; the {b} windows "
        f"of batch 1 {inside['first']} inside them, those of batch 2 {inside['second']} inside them"
    )
    if checks["batch_bounds_registered"] != "calibrated":
        text += "; the registered bounds were widened to cover the windows (see the json)"
    same = checks["batch_calibrated_bounds"] == checks["b1_registered_bounds"]
    return text + f"; they {'equal' if same else 'differ from'} the B=1 model's registered bounds."


def _breakdown_table(columns: list[tuple[str, dict[str, int]]]) -> str:
    keys: list[str] = []
    for _, data in columns:
        keys.extend(k for k in data if k not in keys)
    lines = ["| | " + " | ".join(name for name, _ in columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(f"{data.get(key, 0):,}" for _, data in columns) + " |")
    lines.append("| **total** | " + " | ".join(f"**{sum(data.values()):,}**" for _, data in columns) + " |")
    return "\n".join(lines)


def _data_lines(result: dict[str, Any]) -> list[str]:
    b = result["batch_size"]
    g = result["gas"]
    parts = [
        f"{name}: {item['negative_inputs']} negative of {n} input instances, submit calldata {item['calldata_bytes_submit']:,} B "
        f"(bare {item['calldata_bytes_bare']:,} B)"
        for name, item, n in (
            ("B=1 first", g["b1"]["first"], result["window"]),
            ("B=1 steady", g["b1"]["second"], result["window"]),
            ("B=1 lagging", g["b1"]["lagging"], result["window"]),
            (f"B={b} batch 1", g["batch"]["first"], result["window"] * b),
            (f"B={b} batch 2", g["batch"]["second"], result["window"] * b),
        )
    ]
    return [
        "The figures depend on the data: a negative instance (p − |q|) is 32 non-zero calldata bytes (512 gas), a small "
        "positive one mostly zero bytes (about 160 gas), and the source's arithmetic branches on the sign. " + "; ".join(parts) + "."
    ]


def _feed_lines(result: dict[str, Any]) -> list[str]:
    b = result["batch_size"]
    window = result["window"]
    out = []
    for name, item in (("B=1 steady", result["gas"]["b1"]["second"]), (f"B={b} batch 2", result["gas"]["batch"]["second"])):
        feed = item["feed_calls_in_instances_at"]
        if not feed:
            continue
        samples = b if name.startswith(f"B={b}") else 1
        own = feed["instances_at_gas"] - feed["gas"]
        out.append(
            f"Feed reading, {name}: `instancesAt` reads {feed['count']} rounds ({feed['gas']:,} gas of `getRoundData` calls, "
            f"{feed['gas'] // feed['count']:,} per round) and spends {own:,} in its own code "
            f"({own // (samples * window):,} per return computed, fixed costs included), {feed['instances_at_gas']:,} in all; "
            "with `latestEpoch` the "
            f"oracle pays {item['source_reads_in_submit']:,} for the source"
            + (f", {item['source_reads_in_submit'] // samples:,} per prediction." if samples > 1 else ".")
        )
    return out


def _b1_lines(result: dict[str, Any]) -> list[str]:
    """The B=1 overhead itemized, and what would bring it under the target when it is not."""
    item = result["gas"]["b1"]["second"]
    d, bare = item["breakdown"], item["bare_breakdown"]
    parts = [
        ("calldata: modelId, epochs array, ABI offsets", d["intrinsic (21,000 + calldata)"] - bare["intrinsic (21,000 + calldata)"]),
        ("verifier call beyond its bare execution", d.get("call: verifier", 0) - bare.get("verifier execution", 0)),
        ("feature source (latestEpoch + instancesAt, caller side)", d.get("call: source", 0)),
        ("cold and warm SLOADs (config, bounds, published bitmap, flags, newest record)", d["oracle: SLOAD"]),
        ("SSTORE (batch commitment, bitmap word, newest record, latestEpoch)", d["oracle: SSTORE"]),
        ("event", d["oracle: events (LOG)"]),
        ("other oracle code (checks, ABI copies, code-hash check, ids)", d["oracle: other opcodes"]),
    ]
    lines = [
        "## B=1 overhead, itemized (steady state)",
        "",
        "| part | gas |",
        "| --- | ---: |",
        *(f"| {label} | {value:,} |" for label, value in parts),
        f"| **overhead** | **{sum(v for _, v in parts):,}** |",
        "",
    ]
    gap = item["overhead"] - TARGET_B1_OVERHEAD
    if gap > 0:
        # Config (5 slots) and bounds (one slot per two features, plus a count) never change after registration:
        # one code blob read with EXTCODECOPY (one cold account) would replace those cold slot reads.
        cold = item["cold_sloads"]
        immutable_slots = max(0, cold - 2)  # the record and the flags/latestEpoch slot stay in storage
        blob_saving = immutable_slots * COLD_SLOAD - COLD_ACCOUNT
        lines += [
            f"The steady-state B=1 overhead is {gap:,} over the target. Besides the source's and the oracle's checked "
            "arithmetic (changes 3 and 4 below, which apply at B=1 too): a submission reads "
            f"{cold} cold slots ({d['oracle: SLOAD']:,} gas with the warm re-reads), the model's config and bounds, its "
            "flags and the record. Config and bounds never change after registration except `maxAge`, which can move "
            "into the flags slot; written once into a data contract (SSTORE2) and read with one EXTCODECOPY, they would "
            f"save about {blob_saving:,} ({immutable_slots} cold SLOADs for one cold account access).",
            "",
        ]
    return lines


def _proposal_lines(result: dict[str, Any], worst: dict[str, Any]) -> list[str]:
    """Where the B-batch target's gap is, and what each change would save (gas-schedule arithmetic on measured counts)."""
    b = result["batch_size"]
    per = worst["submit_per_prediction"]
    gap = per - TARGET_BATCH_PER_PREDICTION
    if gap <= 0:
        return []
    d = worst["breakdown"]
    fixed = (d["intrinsic (21,000 + calldata)"] + d.get("call: verifier", 0)) // b
    storage = d["oracle: SSTORE"] // b
    events = d["oracle: events (LOG)"] // b
    feed = worst["feed_calls_in_instances_at"]
    source_own = (feed["instances_at_gas"] - feed["gas"]) // b if feed else 0
    # Storage: two records per slot halves the new slots; one batch commitment (+ the latest record and a
    # per-epoch "published" bitmap word, both updates) replaces B new slots by about one.
    pack_saving = (b // 2) * SSTORE_NEW_SLOT // b
    commit_saving = ((b - 1) * SSTORE_NEW_SLOT - 2 * SSTORE_UPDATE_WARM) // b
    # Events: one event per batch with the B values and timestamps (3 words per sample + 6 words) instead of B events.
    per_event = events
    batch_event = (LOG_BASE + 2 * LOG_TOPIC + LOG_BYTE * 32 * (6 + 3 * b)) // b
    return [
        f"## Gap to the B={b} target",
        "",
        f"The worst batch costs {per:,} per prediction, {gap:,} over the target. Per prediction: the verifier and the calldata "
        f"{fixed:,} (fixed by the proof system), the record slot {storage:,}, the events {events:,}, the feature source "
        f"{worst['source_reads_per_prediction']:,} (of which {source_own:,} is the source's own code, not its feed reads), "
        f"the oracle's cold reads {d['oracle: SLOAD'] // b:,} and its other code {d['oracle: other opcodes'] // b:,} "
        "(instance, bounds and attestation checks in checked arithmetic, ABI copies, ids).",
        "",
        "Changes, with savings per prediction at this batch size (storage and events by the gas schedule on the measured "
        "counts; code by the measured cost it would cut into):",
        "",
        f"1. Storage, one of: (a) two records per slot (int64 value, uint32 data time, uint32 expiry; slot key "
        f"keccak(modelId, epoch / 2)): −{pack_saving:,}; (b) one commitment per batch (keccak of its values and times), "
        "the latest record in full for `latestPrediction`, a per-epoch published bitmap for replay and skips, and "
        f"readers of older epochs passing the values from the event: about −{commit_saving:,}.",
        f"2. One `PredictionsPublished` event per batch instead of one per sample: {per_event:,} → about {batch_event:,} "
        f"(−{per_event - batch_event:,}).",
        f"3. ReturnsFeatureSource: its own code costs {source_own:,} per prediction around the feed reads (checked signed "
        "arithmetic and bounds-checked memory in `_fill`/`quantizedReturn`); the values are bounded (answers ≤ int192, "
        "multiplier · 2^scale < 2^52), so an `unchecked` loop is safe and cuts most of it.",
        f"4. Oracle checks ({d['oracle: other opcodes'] // b:,} per prediction): one `unchecked` pass over the calldata "
        "instances for canonicity, bounds and the attested comparison (today three checked loops, the bounds one through "
        "`decodeFelt`).",
        "",
        "Measure a change before committing it: copy `zkml/oracle/contracts`, edit it, and run "
        "`python -m benchmarks.oracle_gas --contracts DIR --out OTHER_DIR`.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=HERE.parent / "build" / "bench")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--contracts", type=Path, default=None, help="measure the .sol files in this folder instead of the package's")
    args = parser.parse_args()
    if args.contracts is not None and args.out.resolve() == (HERE / "results").resolve():
        parser.error("--contracts measures a variant: give --out another folder than benchmarks/results")
    result = measure(args.build_dir.resolve(), args.batch_size, args.contracts)
    if args.contracts is None:
        from benchmarks.oracle_vka_run import measure_reusable_run

        result["reusable_run"] = measure_reusable_run(args.build_dir.resolve())
    from benchmarks.common import machine
    from zkml.workspace import write_bytes_atomic, write_json_atomic

    result["machine"] = machine()
    write_json_atomic(args.out / "oracle_gas.json", result)
    write_bytes_atomic(args.out / "oracle_gas.md", markdown(result).encode())
    print(markdown(result))  # a script, not library code: the table is its output


if __name__ == "__main__":
    main()
