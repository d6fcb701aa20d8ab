"""circuits/mlp_regressor on both backends, through the oracle: halo2 (ezkl) and circom + snarkjs (Groth16, PLONK, FFLONK).

Usage, from the repository root::

    .venv/bin/python -m benchmarks.circom_backend [--build-dir build/bench]

It runs (or reuses) the halo2 workspace in ``BUILD_DIR/circom_backend/mlp_regressor``, generates the
circom circuit from that workspace's ONNX model and settings, makes the Groth16, PLONK and FFLONK keys
on the development powers of tau (cached in zkml's cache), proves the example input with every system and
checks that the public instances are identical to halo2's. Then, on an anvil of its own: every verifier is
deployed (snarkjs's behind their oracle adapters), each is sent the example proof (a mined
``verifyProof`` transaction), the oracle is deployed with a feed holding the example price series and
its returns feature source, every model is registered as attested over that source, and each
publishes a proof of the feed's latest window with ``submitAttested``. Every gas figure is a mined
transaction's ``gasUsed``.

Writes ``benchmarks/results/circom_backend.json`` and ``benchmarks/results/circom_backend.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, write_results

CIRCUIT = "mlp_regressor"
SYSTEMS = ("groth16", "plonk", "fflonk")
TARGET_VERIFY_GAS = 150_000
TITLE = "circom + snarkjs (Groth16, PLONK, FFLONK) vs halo2 (ezkl) on mlp_regressor, B=1, through the oracle"
COLUMNS = [
    ("backend", "backend"),
    ("constraints", "R1CS constraints (PLONK gates)"),
    ("ptau_power", "ptau 2^k"),
    ("setup_s", "setup s (ptau cached)"),
    ("prove_s", "prove s"),
    ("key_bytes", "proving key bytes"),
    ("proof_bytes", "proof bytes"),
    ("verify_gas", "verify tx gas (adapter + verifier)"),
    ("verify_gas_direct", "verifier alone, tx gas"),
    ("submit_gas", "submitAttested gas"),
    ("verifier_bytes", "verifier bytes"),
    ("adapter_bytes", "adapter bytes"),
    ("instances_equal_halo2", "instances == halo2"),
]
NOTES = """One run of `python -m benchmarks.circom_backend` (2 shared cores, load average 6-10 from other jobs: seconds are
indicative). All four backends prove the same quantized graph (ezkl's settings); every snarkjs proof's public signals
equal halo2's instances element for element, and all four oracle predictions decode to the same value (1.16015625).
Every gas figure is a mined transaction's `gasUsed`; "verify tx gas" goes through the oracle adapter
(`verifyProof(bytes, uint256[])`, reverting on false), "verifier alone" calls snarkjs's verifier directly. The halo2
row's proving key is `pk.key`; snarkjs's is the zkey. Setup uses the development powers of tau (public beacon),
development only, cached per power: 2^11 (Groth16) took 105 s to make in the first run, 2^12 (PLONK) 605 s (beacon
63 s, `prepare phase2` the rest, under load), and FFLONK's 2^15 is the beacon's output without `prepare phase2`
(420 s; its setup reads only the powers themselves: zkml/circom/ptau.py).

**FFLONK is the cheapest verifier here: 229,623 gas per verify transaction, 373,804 for the oracle's `submitAttested`
(halo2: 546,761 and 691,857).** It needs 8x PLONK's powers of tau (9 x 2^12 + 18 powers in G1 for 3,910 PLONK
gates), and proves ~9x slower than Groth16 in JS. PLONK costs more than Groth16 here (2 pairings, but ~20 field
inversions and a Lagrange evaluation per public signal).

**The 150,000-gas target is out of reach for every snarkjs system on BN254 with the EIP-1108 precompile prices.**
Groth16 takes 4 pairings (45,000 + 4 x 34,000 = 181,000 gas) plus one ecMul (6,000) and ecAdd (150) per public
signal (9 here: 55,350), plus 21,000 base and the calldata. FFLONK and PLONK take a 2-pairing check (113,000) plus
21,000 base: 134,000 before any other work. The 134,503 figure in the issue cannot include a successful pairing
check: snarkjs's verifiers return `false` instead of reverting when a precompile runs out of gas, so a gas limit from
`eth_estimateGas` settles below what the pairing needs and the transaction "succeeds" returning false. The adapters
here revert on `false` (as ezkl's verifier does), which makes estimates, and the oracle's revert-or-false handling,
exact."""


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def _halo2(build_dir: Path) -> Any:
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = load_config(CIRCUITS / CIRCUIT)
    pipeline = Pipeline(config, Workspace(build_dir / config.name))
    pipeline.run()
    return pipeline


def _snark(ws: Any, circuit: Any, name: str) -> dict[str, Any]:
    """Keys, a proof of the example input and local verification with the proof system ``name``."""
    from zkml.circom.build import setup_keys
    from zkml.circom.prove import prove, quantize_inputs, verify
    from zkml.circom.systems import plonk_gates
    from zkml.evm.onchain import read_proof

    keys, setup_s = _timed(setup_keys, circuit, name)
    values = json.loads(Path(ws.root, "input.json").read_text())["input_data"][0]
    proof, prove_s = _timed(prove, circuit, keys, quantize_inputs(circuit, values), circuit.folder / f"example-{name}")
    ok, verify_s = _timed(verify, keys, circuit.folder / f"example-{name}")
    halo2 = read_proof(Path(ws.proof)).instances
    if proof.instances != halo2:
        raise SystemExit(f"the {name} instances {proof.instances} differ from halo2's {halo2}")
    size = circuit.constraints if name == "groth16" else f"{circuit.constraints:,} ({plonk_gates(circuit.r1cs):,})"
    return {
        "keys": keys,
        "proof": proof,
        "row": {
            "backend": name,
            "constraints": size,
            "ptau_power": keys.ptau.logrows,
            "setup_s": round(setup_s, 2),
            "prove_s": round(prove_s, 2),
            "verify_local_s": round(verify_s, 2),
            "verified_locally": ok,
            "key_bytes": keys.zkey.stat().st_size,
            "proof_bytes": len(proof.proof),
            "instances_equal_halo2": True,
        },
    }


def _oracle_world(conn: Any, pipeline: Any, records: Path) -> dict[str, Any]:
    from zkml.evm.rpc import resolve_sender
    from zkml.oracle.binding import workspace_bounds
    from zkml.oracle.client import deploy_oracle
    from zkml.oracle.demo import demo_prices, fill_demo_feed
    from zkml.oracle.feed import deploy_source
    from zkml.oracle.mirror import ReturnsSpec
    from zkml.oracle.registry import workspace_model

    owner = resolve_sender(conn)
    model = workspace_model(Path(pipeline.ws.root))
    feed_config = pipeline.config.feed
    oracle = deploy_oracle(conn, records, sender=owner)
    feed, _ = fill_demo_feed(conn, records, demo_prices(pipeline, feed_config), feed_config, sender=owner, contracts=None)
    spec = ReturnsSpec(model.spec.sample_width, model.spec.input_scale, feed_config.multiplier)
    source = deploy_source(conn, records, feed.address, spec, sender=owner)
    bounds = workspace_bounds(Path(pipeline.ws.root), model.spec.input_scale, model.spec.sample_width)
    return {"oracle": oracle.address, "feed": feed.address, "source": source.address, "spec": spec, "model": model, "bounds": bounds}


def _onchain(pipeline: Any, circuit: Any, snarks: dict[str, dict[str, Any]], records: Path) -> dict[str, dict[str, Any]]:
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.oracle import attest_groth16, register_groth16
    from zkml.evm.anvil import local_anvil
    from zkml.evm.onchain import verify_onchain
    from zkml.evm.rpc import connect
    from zkml.oracle.attest import prove_attested
    from zkml.oracle.client import publish
    from zkml.oracle.feed import attested_input, latest_epoch
    from zkml.oracle.registry import register_workspace

    out: dict[str, dict[str, Any]] = {}
    with local_anvil() as node:
        conn = connect(node.url)
        halo2_verifier = pipeline.deploy(conn)
        halo2_check = verify_onchain(conn, halo2_verifier.address, Path(pipeline.ws.proof), send=True)
        world = _oracle_world(conn, pipeline, records)
        lag = pipeline.config.feed.max_epoch_lag
        register_workspace(conn, world["oracle"], Path(pipeline.ws.root), feature_source=world["source"], max_epoch_lag=lag)
        latest = latest_epoch(conn, world["feed"])
        window = attested_input(conn, world["feed"], latest, world["spec"])
        halo2_proof = prove_attested(pipeline, window, world["model"].spec, world["bounds"])
        halo2_pub = publish(conn, world["oracle"], world["model"].model_id_for(world["source"]), halo2_proof, epochs=[latest])
        out["halo2"] = {
            "verifier_bytes": pipeline.verifier().runtime_bytes,
            "verify_gas": halo2_check.gas_used,
            "submit_gas": halo2_pub.gas_used,
            "prediction": list(halo2_pub.prediction.floats),
        }
        for name, snark in snarks.items():
            keys, proof = snark["keys"], snark["proof"]
            contracts = compile_contracts(keys, circuit.public_signals, circuit.folder / f"evm-{name}")
            dep = deploy(conn, contracts, keys, records)
            check = verify_onchain(conn, dep.adapter.address, proof.path, send=True)
            registration = register_groth16(
                conn, world["oracle"], Path(pipeline.ws.root), keys, dep, feature_source=world["source"], max_epoch_lag=lag
            )
            attested, pub = attest_groth16(
                conn, world["oracle"], registration.model_id, circuit, keys, feed=world["feed"],
                input_scale=world["spec"].scale, multiplier=world["spec"].multiplier, out_dir=circuit.folder / f"attested-{name}",
            )  # fmt: skip
            out[name] = {
                "verifier_bytes": contracts.verifier.runtime_size,
                "adapter_bytes": contracts.adapter.runtime_size,
                "verify_gas": check.gas_used,
                "verify_gas_direct": _direct_verifier_gas(conn, dep.verifier.address, proof, name),
                "submit_gas": pub.gas_used,
                "prediction": list(pub.prediction.floats),
                "epoch": latest,
                "attested_outputs": list(attested.outputs),
            }
    return out


def _direct_verifier_gas(conn: Any, verifier: str, proof: Any, name: str) -> int:
    """Gas of a mined call to snarkjs's verifier itself, without the adapter (the adapter's overhead is the difference)."""
    from eth_utils import keccak

    from zkml.circom.systems import system
    from zkml.evm.rpc import call, resolve_sender, send_transaction

    selector = keccak(text=system(name).verify_signature(len(proof.instances)))[:4]
    data = selector + proof.proof + b"".join(v.to_bytes(32, "big") for v in proof.instances)
    if int.from_bytes(call(conn, verifier, data, f"calling the {name} verifier"), "big") != 1:
        raise SystemExit(f"the {name} verifier refused the example proof")
    # An explicit gas limit: the verifier returns false rather than reverting when short of gas,
    # so an estimate would settle below what the pairing needs.
    receipt = send_transaction(conn, resolve_sender(conn), {"to": verifier, "data": "0x" + data.hex(), "gas": 2_000_000})
    return int(receipt["gasUsed"])


def main(argv: list[str] | None = None) -> None:
    from zkml.circom.build import compile_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build/bench"))
    parser.add_argument("--systems", nargs="*", default=list(SYSTEMS), choices=SYSTEMS)
    args = parser.parse_args(argv)
    build = args.build_dir / "circom_backend"
    pipeline, halo2_s = _timed(_halo2, build)
    ws = pipeline.ws
    circuit, compile_s = _timed(compile_model, Path(ws.onnx), Path(ws.settings), Path(ws.root) / "circom")
    snarks = {name: _snark(ws, circuit, name) for name in args.systems}
    chain = _onchain(pipeline, circuit, snarks, build / "records")
    halo2_keys = sum(Path(ws.root, f).stat().st_size for f in ("pk.key",))
    rows = [{"backend": "halo2", "key_bytes": halo2_keys, "pipeline_s": round(halo2_s, 1), **chain["halo2"]}]
    for name, snark in snarks.items():
        rows.append({**snark["row"], "compile_s": round(compile_s, 2), **chain[name]})
    for row in rows:
        row.update(circuit=CIRCUIT, target_verify_gas=TARGET_VERIFY_GAS, verify_within_target=row["verify_gas"] <= TARGET_VERIFY_GAS)
    path = write_results("circom_backend", rows, COLUMNS, TITLE, NOTES)
    print(json.dumps(rows, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
