"""EVM cost of every example circuit, plain and reusable verifier.

Runs each circuit through the pipeline (reusing build/ when current), compiles
both verifiers, starts one anvil, deploys, registers the VKA on the reusable
verifier, and sends the real proof as a transaction to each. Every figure is a
receipt's gasUsed or a measured byte count.

    .venv/bin/python -m benchmarks.evm_gas [--build-dir build] [circuit ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, write_results


def measure(name: str, build_dir: Path, conn: Any) -> list[dict[str, Any]]:
    """Both verifier flavours for one circuit on ``conn``."""
    from zkml.config import load_config
    from zkml.evm.deploy import deploy_verifier, register_vka
    from zkml.evm.onchain import verify_onchain
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    pipeline = Pipeline(load_config(CIRCUITS / name), Workspace(build_dir / name))
    pipeline.prove()
    srs = pipeline.srs()
    proof = pipeline.ws.path("proof.json")
    rows = []

    plain = pipeline.verifier()
    deployed = deploy_verifier(conn, plain, pipeline.ws.root / "bench", srs_unsafe=srs.unsafe, srs_reason=srs.unsafe_reason)
    result = verify_onchain(conn, deployed.address, proof, send=True)
    rows.append(
        {
            "circuit": name,
            "verifier": "plain",
            "runtime_bytes": plain.runtime_bytes,
            "deploy_gas": deployed.gas_used,
            "register_gas": "",
            "verify_gas": result.gas_used,
            "calldata_bytes": result.calldata_bytes,
            "accepted": result.accepted,
        }
    )

    reusable = pipeline.verifier(reusable=True)
    vka = pipeline.vka()
    shared = deploy_verifier(conn, reusable, pipeline.ws.root / "bench", srs_unsafe=srs.unsafe, srs_reason=srs.unsafe_reason)
    registered = register_vka(conn, shared, reusable, vka, pipeline.ws.root / "bench", srs_unsafe=srs.unsafe, srs_reason=srs.unsafe_reason)
    result = verify_onchain(conn, shared.address, proof, vka=vka, send=True)
    rows.append(
        {
            "circuit": name,
            "verifier": "reusable + VKA",
            "runtime_bytes": reusable.runtime_bytes,
            "deploy_gas": shared.gas_used if not shared.reused else f"{shared.gas_used:,} (shared)",
            "register_gas": registered.gas_used,
            "verify_gas": result.gas_used,
            "calldata_bytes": result.calldata_bytes,
            "accepted": result.accepted,
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("circuits", nargs="*", default=sorted(p.name for p in CIRCUITS.iterdir() if (p / "zkml.toml").is_file()))
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    args = parser.parse_args()

    from zkml.evm.anvil import local_anvil
    from zkml.evm.rpc import connect

    rows: list[dict[str, Any]] = []
    with local_anvil() as node:
        conn = connect(node.url)
        for name in args.circuits:
            rows.extend(measure(name, args.build_dir, conn))
    path = write_results(
        "evm_gas",
        rows,
        [
            ("circuit", "circuit"),
            ("verifier", "verifier"),
            ("runtime_bytes", "runtime bytes"),
            ("deploy_gas", "deploy gas"),
            ("register_gas", "VKA register gas"),
            ("verify_gas", "verify gas (tx)"),
            ("calldata_bytes", "calldata bytes"),
            ("accepted", "accepted"),
        ],
        "EVM cost per example circuit",
        notes=(
            "solcjs 0.8.37, optimizer runs 1, evm cancun, anvil 1.7.1. Gas is each receipt's gasUsed. "
            "The reusable verifier is one contract for every model of the same instance layout: deployed once, "
            "then each model pays only its VKA registration; its verify calldata carries the VKA."
        ),
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
