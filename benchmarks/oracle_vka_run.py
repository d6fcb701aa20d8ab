"""`zkml run` to an attested prediction through the reusable verifier: a forecaster whose plain verifier is over EIP-170.

``benchmarks/circuits/attention_forecaster`` is a one-head self-attention forecaster over the
gru_forecaster example's series; its plain verifier is about 32 KB, over EIP-170's 24,576, so
``zkml run`` deploys the reusable verifier, registers the model with its VKA and publishes the
attested proof with it. :func:`measure_reusable_run` runs exactly that and returns the gas of
each step. Used by :mod:`benchmarks.oracle_gas`; the slow test in ``tests/test_flow.py`` runs the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CIRCUIT = Path(__file__).resolve().parent / "circuits" / "attention_forecaster"


def measure_reusable_run(build_dir: Path) -> dict[str, Any]:
    """Run the attention forecaster end to end on an embedded anvil; the reusable verifier's gas, step by step."""
    from zkml.config import load_config
    from zkml.flow import run_pipeline
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = load_config(CIRCUIT / "zkml.toml")
    summary = run_pipeline(Pipeline(config, Workspace(build_dir / "oracle_gas" / config.name)), chain=True)
    onchain, demo = summary.onchain, summary.demo
    if onchain is None or demo is None or onchain.verifier_kind != "reusable+vka" or demo["verifier_kind"] != "reusable+vka":
        raise SystemExit(f"{config.name} did not reach an attested prediction through the reusable verifier")
    return {
        "circuit": f"benchmarks/circuits/{config.name}",
        "logrows": summary.logrows,
        "plain_runtime_bytes": onchain.verifier_runtime_bytes,
        "reusable_runtime_bytes": onchain.reusable_verifier_runtime_bytes,
        "vka_register_gas": onchain.vka_register_gas,
        "verify_bare": onchain.verify_gas,
        "register_attested": demo["gas"]["register"],
        "submit": demo["gas"]["submit"],
        "overhead": (demo["gas"]["submit"] or 0) - (onchain.verify_gas or 0),
        "read": demo["gas"]["read"],
        "act": demo["gas"]["act"],
        "epoch": demo["epoch"],
        "prediction": demo["prediction"]["floats"],
        "vka_digest": onchain.vka_digest,
    }


def markdown_lines(run: dict[str, Any]) -> list[str]:
    """The section of ``oracle_gas.md`` for the reusable-verifier run."""
    return [
        "",
        "## Through the reusable verifier, from `zkml run`",
        "",
        f"{run['circuit']}, logrows {run['logrows']}: the plain verifier is {run['plain_runtime_bytes']:,} runtime bytes, over "
        f"EIP-170's 24,576, so `zkml run` deployed the reusable verifier ({run['reusable_runtime_bytes']:,} bytes), registered "
        f"the model's VKA on it and with the oracle (digest pinned), and published the attested proof of epoch {run['epoch']} "
        "with the VKA (`submitAttestedWithVka`). Measured by `benchmarks/oracle_vka_run.py` on an anvil of its own.",
        "",
        "| step | gas |",
        "| --- | ---: |",
        f"| registerVka on the reusable verifier (once per model) | {run['vka_register_gas']:,} |",
        f"| registerModel, attested, with the VKA digest (once per model) | {run['register_attested']:,} |",
        f"| verifier alone: verifyProof with the VKA (the run's own proof) | {run['verify_bare']:,} |",
        f"| submitAttestedWithVka (epoch {run['epoch']}) | {run['submit']:,} |",
        f"|   oracle overhead over the bare verifier (VKA calldata and its digest check included) | {run['overhead']:,} |",
        f"| read (eth_estimateGas) | {run['read']:,} |",
        f"| ForecastVault.rebalance | {run['act']:,} |",
        "",
        "The bare verifier figure is the run's own proof (`zkml verify-onchain --send`), not the attested one: the same circuit "
        "and calldata size, but two proofs' calldata differ in their zero bytes (4 gas each against 16), so this overhead is "
        "approximate. What it adds over the plain path's overhead is the oracle's handling of the VKA (copied, hashed against its pinned digest, passed on to the verifier); it is not itemized here.",
    ]
