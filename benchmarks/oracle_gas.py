"""Gas of the verified-prediction oracle on circuits/mlp_regressor, measured on a local anvil.

Usage (after ``zkml run circuits/mlp_regressor`` made the proof and the verifier)::

    .venv/bin/python benchmarks/oracle_gas.py [--build-dir build]

Works on a temporary copy of ``BUILD_DIR/mlp_regressor`` (the workspace's own records are
left alone), starts its own anvil, and writes ``benchmarks/oracle_gas.json`` and
``benchmarks/oracle_gas.md``. Every number is a mined transaction's ``gasUsed`` except
reads, which are ``eth_estimateGas`` of the view call (including 21,000 intrinsic gas).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CIRCUIT = "mlp_regressor"


def measure(build_dir: Path) -> dict[str, Any]:
    """Run the oracle flow once on a fresh anvil and return the gas table."""
    from zkml import oracle as orc
    from zkml.evm.anvil import local_anvil
    from zkml.evm.deploy import deploy_verifier
    from zkml.evm.onchain import verify_onchain
    from zkml.evm.rpc import connect, resolve_sender
    from zkml.evm.verifier import load_verifier

    source = build_dir / CIRCUIT
    if not (source / "proof.json").is_file() or not (source / "evm" / "plain").is_dir():
        raise SystemExit(f"{source} has no proof or verifier: run `zkml run circuits/{CIRCUIT}` first")
    with tempfile.TemporaryDirectory() as tmp, local_anvil() as node:
        ws = Path(tmp) / CIRCUIT
        shutil.copytree(source, ws, ignore=shutil.ignore_patterns("pk.key", "deployments.json"))
        conn = connect(node.url)
        sender = resolve_sender(conn)
        artifact = load_verifier(ws / "evm" / "plain")
        verifier = deploy_verifier(conn, artifact, ws, srs_unsafe=True, sender=sender)
        bare = verify_onchain(conn, verifier.address, ws / "proof.json", send=True, sender=sender)
        flow = orc.demo_flow(ws, conn, sender=sender, verifier=verifier.address)
        model_id = bytes.fromhex(flow["model_id"][2:])
        _, read_latest = orc.read_prediction(conn, flow["oracle_address"], model_id)
        spec = orc.model_spec(ws / "settings.json")
        contracts = orc.compile_contracts()
        return {
            "circuit": CIRCUIT,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "chain": "anvil (local, chain id 31337)",
            "compiler": contracts.oracle.compiler.as_dict(),
            "instances": spec.instance_count,
            "binding": spec.binding,
            "gas": {
                "deploy_oracle": flow["gas"]["deploy_oracle"],
                "deploy_consumer": flow["gas"]["deploy_consumer"],
                "register": flow["gas"]["register"],
                "verify_bare": bare.gas_used,
                "submit": flow["gas"]["submit"],
                "submit_overhead": flow["gas"]["submit"] - bare.gas_used,
                "read_for_input_estimate": flow["gas"]["read"],
                "read_latest_estimate": read_latest,
                "consumer_act": flow["gas"]["act"],
            },
            "runtime_bytes": {
                "oracle": contracts.oracle.runtime_size,
                "consumer": contracts.consumer.runtime_size,
                "verifier": artifact.runtime_bytes,
            },
            "prediction": flow["prediction"]["floats"],
            "consumer_target_risky_bps": flow["consumer"]["target_risky_bps"],
        }


ROWS = (
    ("deploy_oracle", "deploy VerifiedPredictionOracle (once per chain)"),
    ("deploy_consumer", "deploy ForecastVault (once per consumer)"),
    ("register", "registerModel (once per model)"),
    ("verify_bare", "verifier alone: verifyProof sent directly"),
    ("submit", "submit: verify + checks + store + event"),
    ("submit_overhead", "oracle overhead of submit over the bare verifier"),
    ("read_latest_estimate", "latestPrediction (view, eth_estimateGas)"),
    ("read_for_input_estimate", "predictionFor(model, input commitment) (view, eth_estimateGas)"),
    ("consumer_act", "ForecastVault.rebalanceOn (reads the oracle, sets target)"),
)


def markdown(result: dict[str, Any]) -> str:
    """The committed table, with the machine it was measured on."""
    from benchmarks.common import machine

    gas = result["gas"]
    info = machine()
    lines = [
        "# Oracle gas",
        "",
        f"`benchmarks/oracle_gas.py` on `circuits/{result['circuit']}` ({result['instances']} public instances, "
        f"{result['binding']} input binding), {result['chain']}, solc {result['compiler']['version']} "
        f"(optimizer runs {result['compiler']['optimizer']['runs']}, {result['compiler']['evm_version']}), measured {result['measured_at']}.",
        "",
        "| operation | gas |",
        "| --- | ---: |",
        *(f"| {label} | {gas[key]:,} |" for key, label in ROWS),
        "",
        f"Runtime code: oracle {result['runtime_bytes']['oracle']:,} B, consumer {result['runtime_bytes']['consumer']:,} B, "
        f"verifier {result['runtime_bytes']['verifier']:,} B. Prediction stored: {result['prediction']}; "
        f"the vault's target risky share became {result['consumer_target_risky_bps']} bps.",
        "",
        "Reads are `eth_estimateGas` of the view call and include the 21,000 intrinsic gas of a transaction; "
        "a contract calling them pays the rest. All other numbers are `gasUsed` of mined transactions.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    result = measure(args.build_dir)
    from zkml.workspace import write_bytes_atomic, write_json_atomic

    write_json_atomic(args.out / "oracle_gas.json", result)
    write_bytes_atomic(args.out / "oracle_gas.md", markdown(result).encode())
    print(markdown(result))  # a script, not library code: the table is its output


if __name__ == "__main__":
    main()
