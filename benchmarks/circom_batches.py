"""A batch of B predictions on each backend: halo2 (ezkl) and circom + snarkjs (Groth16, PLONK, FFLONK), for mlp_regressor.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.circom_batches [--batches 1 4 16 64] [--halo2-batches 1 4 16]

For each batch size B, measured in one run on one local anvil:

- the circom batch circuit (:mod:`zkml.circom.batch`: the batch-1 circuit instantiated B times,
  public signals = halo2's batched instances, in halo2's order), compiled from the example
  circuit's ONNX at its committed tuned scales: constraints, public signals and the powers of tau
  each proof system needs. Where that ptau (or a larger one) is already in the development ptau
  cache, the keys, a proof of B held-out samples (``holdout.json``), local verification, the
  verifier behind its oracle adapter deployed and sent that proof (mined ``gasUsed``);
- a *stand-in* circuit with the same public signals (the same B*8 inputs and B outputs, each
  only squared: one constraint per signal), through the same keys, prove and on-chain steps. A
  snarkjs verifier's gas depends on the public signals and the calldata, not on the circuit
  behind them (Groth16: one scalar multiplication per signal; PLONK/FFLONK: one Lagrange
  evaluation per signal), so it gives the verify gas at every B, including those whose real
  setup needs a ptau this run does not make; where both are measured, the table shows both;
- halo2: ``zkml prove/verifier/deploy/verify-onchain --batch-size B`` on the same anvil (the
  batch workspace zkml builds by default, calibrated logrows), and the first batch proof's
  instances compared with the circom batch circuit's public signals for the same samples.

A prepared development ptau above what the cache holds is not made here: ``prepare phase2`` in JS
takes ~35 min at 2^15 on 2 cores (zkml/circom/ptau.py). Those cells say what they need.

Writes ``benchmarks/results/circom_batches.json`` and ``benchmarks/results/circom_batches.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, write_results

CIRCUIT = "mlp_regressor"
SYSTEMS = ("groth16", "plonk", "fflonk")
EIP170_BYTES = 24_576  # runtime code above this cannot deploy on mainnet; the run's anvil lifts the limit to measure the gas anyway
TITLE = "A batch of B predictions on each backend: halo2 and circom + snarkjs (Groth16, PLONK, FFLONK), mlp_regressor"
COLUMNS = [
    ("batch", "B"),
    ("backend", "backend"),
    ("constraints", "constraints (circom) / logrows (halo2)"),
    ("public_signals", "public signals"),
    ("ptau_power", "ptau power"),
    ("status", "this circuit"),
    ("setup_s", "setup s"),
    ("prove_s", "prove s"),
    ("key_bytes", "proving key bytes"),
    ("verifier_bytes", "verifier bytes (+ adapter)"),
    ("verify_gas", "verify tx gas (this circuit)"),
    ("standin_gas", "verify tx gas (stand-in, same signals)"),
    ("gas_per_prediction", "gas per prediction"),
]


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# --------------------------------------------------------------------------- powers of tau and keys


def cached_ptau(power: int, *, prepared: bool) -> Any | None:
    """The smallest development ptau in the cache of at least ``power`` (prepared for Groth16/PLONK), or None."""
    from zkml.artifacts import Srs, sha256_file
    from zkml.circom.ptau import MAX_POWER, ptau_dir

    for p in range(power, MAX_POWER + 1):
        names = [f"pot{p}.dev"] if prepared else [f"pot{p}.dev", f"pot{p}.dev.powers"]
        for stem in names:
            path, meta = ptau_dir() / f"{stem}.ptau", ptau_dir() / f"{stem}.json"
            if path.is_file() and meta.is_file():
                return Srs(path, sha256_file(path), p, "dev-unsafe", pinned=False)
    return None


def needed_power(circuit: Any, system: str) -> int:
    """The ptau power ``system``'s setup of ``circuit`` needs (zkml.circom.build's rules)."""
    from zkml.circom.ptau import MIN_POWER
    from zkml.circom.systems import plonk_gates, universal_ptau_power

    if system == "groth16":
        needed = circuit.constraints + circuit.public_signals + 1
        return max(MIN_POWER, (needed - 1).bit_length())
    return universal_ptau_power(system, plonk_gates(circuit.r1cs))


def setup_with(circuit: Any, system: str, ptau: Any) -> Any:
    """snarkjs's setup of ``system`` on a given (possibly larger) cached ptau, as zkml.circom.build makes it.

    zkml.circom.build asks for the ptau of exactly the needed power; snarkjs takes any larger one,
    which lets this run reuse a cached 2^15 for a 2^13 circuit instead of preparing a 2^13.
    """
    from zkml.artifacts import sha256_file
    from zkml.circom import tools
    from zkml.circom.build import DEV_ZKEY_BEACON, SnarkKeys
    from zkml.errors import KeysError

    folder = circuit.folder
    zkey, vk = folder / f"model.{system}.zkey", folder / f"verification_key.{system}.json"
    if system == "groth16":
        zkey0 = folder / "model_0000.zkey"
        tools.run("snarkjs", ["groth16", "setup", circuit.r1cs, ptau.path, zkey0], doing="the Groth16 setup", error=KeysError)
        beacon: list[str | Path] = ["zkey", "beacon", zkey0, zkey, DEV_ZKEY_BEACON, "10", "-n=zkml dev phase 2"]
        tools.run("snarkjs", beacon, doing="the development phase 2 beacon", error=KeysError)
        zkey0.unlink()
    else:
        tools.run("snarkjs", [system, "setup", circuit.r1cs, ptau.path, zkey], doing=f"the {system} setup", error=KeysError)
    tools.run("snarkjs", ["zkey", "export", "verificationkey", zkey, vk], doing="exporting the verification key", error=KeysError)
    return SnarkKeys(zkey, vk, sha256_file(zkey), sha256_file(vk), circuit.r1cs_sha256, ptau, system)


# --------------------------------------------------------------------------- circuits


def standin_circuit(real: Any, folder: Path) -> Any:
    """A circuit with ``real``'s public signals, each only squared: the verifier's gas without the model's constraints.

    Its graph is ``real``'s, so :func:`zkml.circom.prove.prove` computes the same outputs and the
    proof carries the same field elements as ``real``'s would.
    """
    from dataclasses import replace

    from zkml.artifacts import sha256_file
    from zkml.circom import tools
    from zkml.circom.build import CIRCUIT_NAME, r1cs_counts
    from zkml.circom.codegen import CIRCOM_VERSION
    from zkml.errors import CircuitError

    n, m = real.graph.input_size, real.graph.output_size
    source = f"""pragma circom {CIRCOM_VERSION};
// A stand-in with the batch circuit's public signals and one constraint per signal (zkml benchmarks).
template PublicOnly(n, m) {{
    signal input inputs[n];
    signal input outputs[m];
    signal square[n + m];
    for (var i = 0; i < n; i++) {{ square[i] <== inputs[i] * inputs[i]; }}
    for (var j = 0; j < m; j++) {{ square[n + j] <== outputs[j] * outputs[j]; }}
}}
component main {{public [inputs, outputs]}} = PublicOnly({n}, {m});
"""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{CIRCUIT_NAME}.circom").write_text(source)
    args = [f"{CIRCUIT_NAME}.circom", "--r1cs", "--wasm", "--O1", "-o", "."]
    tools.run("circom2", args, doing="compiling the stand-in", error=CircuitError, cwd=folder)
    constraints, public = r1cs_counts(folder / f"{CIRCUIT_NAME}.r1cs")
    return replace(
        real, folder=folder, constraints=constraints, public_signals=public, r1cs_sha256=sha256_file(folder / f"{CIRCUIT_NAME}.r1cs")
    )


def samples(batch: int) -> list[list[float]]:
    """``batch`` held-out samples of the example circuit (8 returns each)."""
    rows = json.loads((CIRCUITS / CIRCUIT / "holdout.json").read_text())["input_data"]
    flat = [float(v) for row in rows for v in row]
    out = [flat[i : i + 8] for i in range(0, len(flat), 8)]
    if len(out) < batch:
        raise SystemExit(f"holdout.json has {len(out)} samples, fewer than B={batch}")
    return out[:batch]


def snark_measure(circuit: Any, system: str, inputs: list[int], conn: Any, folder: Path) -> dict[str, Any]:
    """Keys on the smallest cached ptau, a proof, local and on-chain verification; or why not."""
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.prove import prove, verify
    from zkml.evm.onchain import verify_onchain

    power = needed_power(circuit, system)
    ptau = cached_ptau(power, prepared=system != "fflonk")
    if ptau is None:
        kind = "prepared " if system != "fflonk" else ""
        return {"ptau_power": power, "status": f"not proved: needs a {kind}ptau 2^{power}, not in the cache"}
    try:
        keys, setup_s = _timed(setup_with, circuit, system, ptau)
        proof, prove_s = _timed(prove, circuit, keys, inputs, folder / system)
        contracts = compile_contracts(keys, circuit.public_signals, folder / f"evm-{system}")
        deployment = deploy(conn, contracts, keys, folder / f"records-{system}")
        check = verify_onchain(conn, deployment.adapter.address, proof.path, send=True)
    except Exception as exc:  # noqa: BLE001  (a cell says what failed; the run goes on)
        return {"ptau_power": power, "status": f"failed: {str(exc)[:160]}"}
    size = contracts.verifier.runtime_size
    return {
        "ptau_power": power,
        "ptau_used": ptau.logrows,
        "status": "proved" if verify(keys, folder / system) and check.accepted else f"refused: {check}",
        "setup_s": round(setup_s, 2),
        "prove_s": round(prove_s, 2),
        "key_bytes": keys.zkey.stat().st_size,
        "verifier_bytes": f"{size:,} + {contracts.adapter.runtime_size:,}" + (" (over EIP-170)" if size > EIP170_BYTES else ""),
        "verifier_runtime_bytes": size,
        "verify_gas": check.gas_used if check.accepted else None,
        "instances": list(proof.instances),
    }


def circom_rows(batch: int, single: Any, conn: Any, build: Path) -> list[dict[str, Any]]:
    """The batch circuit and its stand-in on every proof system at ``batch``."""
    from zkml.circom.batch import compile_graph
    from zkml.circom.graph import quantize
    from zkml.circom.prove import to_field

    folder = build / f"b{batch}"
    circuit, compile_s = _timed(compile_graph, single, batch, folder / "circuit")
    standin = standin_circuit(circuit, folder / "standin")
    inputs = [to_field(quantize(v, single.scale)) for sample in samples(batch) for v in sample]
    rows = []
    for system in SYSTEMS:
        row: dict[str, Any] = {
            "batch": batch,
            "backend": system,
            "constraints": circuit.constraints,
            "public_signals": circuit.public_signals,
        }
        row["compile_s"] = round(compile_s, 2)
        real = snark_measure(circuit, system, inputs, conn, folder / "real")
        stand = snark_measure(standin, system, inputs, conn, folder / "standin-run")
        if "instances" in real and "instances" in stand and real["instances"] != stand["instances"]:
            raise SystemExit(f"B={batch} {system}: the stand-in's public signals differ from the batch circuit's")
        row.update({k: v for k, v in real.items() if k != "instances"})
        row["standin_gas"] = stand.get("verify_gas")
        row["standin_verifier_bytes"] = stand.get("verifier_bytes")
        row["standin_status"] = stand["status"]
        if "verifier_bytes" not in row and stand.get("verifier_bytes"):  # the verifier's size follows its public signals
            row["verifier_bytes"] = f"{stand['verifier_bytes']} (stand-in)"
        row["standin_constraints"] = standin.constraints
        gas = row.get("verify_gas") or row["standin_gas"]
        row["gas_per_prediction"] = round(gas / batch) if gas else None
        row["gas_from"] = "this circuit" if row.get("verify_gas") else "stand-in"
        rows.append(row)
        logging.warning("B=%d %s: %s", batch, system, {k: row.get(k) for k in ("status", "verify_gas", "standin_gas", "prove_s")})
    return rows


# --------------------------------------------------------------------------- halo2


def _zkml(*args: str) -> str:
    done = subprocess.run([str(Path(sys.executable).with_name("zkml")), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"zkml {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def halo2_row(batch: int, single: Any, url: str, build: Path) -> dict[str, Any]:
    """zkml's batch-B halo2 workspace proved, its verifier deployed and sent the proof; its instances vs the circom batch circuit's."""
    from zkml.circom.batch import batch_graph
    from zkml.circom.graph import evaluate, quantize
    from zkml.circom.prove import to_field
    from zkml.evm.onchain import read_proof

    where = ["circuits/" + CIRCUIT, "--batch-size", str(batch), "--build-dir", str(build)]
    _zkml("prove", *where)
    _zkml("verifier", *where)
    _zkml("deploy", *where, "--rpc-url", url)
    result = json.loads(_zkml("verify-onchain", *where, "--send", "--json", "--rpc-url", url))
    ws = build / CIRCUIT / (f"batch-{batch}" if batch > 1 else "")
    stages = json.loads((ws / "manifest.json").read_text())["stages"]
    settings = json.loads((ws / "settings.json").read_text())
    flat = [float(v) for row in json.loads((ws / "input.json").read_text())["input_data"] for v in row]
    quantized = [quantize(v, single.scale) for v in flat]
    circom_signals = tuple(to_field(v) for v in [*quantized, *evaluate(batch_graph(single, batch), quantized)])
    gas = result.get("gas_used")
    verifier = ws / "evm" / "plain" / "Verifier.json"
    runtime = json.loads(verifier.read_text()) if verifier.is_file() else {}
    return {
        "batch": batch,
        "backend": "halo2",
        "constraints": f"logrows {settings['run_args']['logrows']}",
        "public_signals": len(read_proof(ws / "proof.json").instances),
        "status": "proved" if result.get("accepted") else f"refused: {result}",
        "setup_s": stages.get("keys", {}).get("seconds"),
        "prove_s": stages.get("prove", {}).get("seconds"),
        "key_bytes": (ws / "pk.key").stat().st_size,
        "verifier_bytes": runtime.get("runtime_bytes", ""),
        "verify_gas": gas,
        "gas_per_prediction": round(gas / batch) if gas else None,
        "instances_equal_circom": tuple(read_proof(ws / "proof.json").instances) == circom_signals,
    }


# --------------------------------------------------------------------------- the run


def _line(points: list[tuple[int, int]]) -> tuple[int, int]:
    """(intercept, slope) of the least-squares line through ``points``."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return round(my - slope * mx), round(slope)


def _bytes(cell: Any) -> int | None:
    """The verifier's runtime bytes from a ``"N + adapter ..."`` cell."""
    return int(str(cell).split(" + ")[0].replace(",", "")) if cell else None


def gas_lines(rows: list[dict[str, Any]]) -> list[tuple[str, int, int, int]]:
    """Per snarkjs system: (system, fixed gas, gas per public signal, verifier bytes per public signal), from the stand-in rows."""
    fits = []
    for system in SYSTEMS:
        mine = [r for r in rows if r["backend"] == system and r.get("standin_gas")]
        if len(mine) < 2:
            continue
        fixed, per_signal = _line([(r["public_signals"], r["standin_gas"]) for r in mine])
        sizes = [(r["public_signals"], _bytes(r.get("standin_verifier_bytes"))) for r in mine]
        _, bytes_per_signal = _line([(x, y) for x, y in sizes if y is not None])
        fits.append((system, fixed, per_signal, bytes_per_signal))
    return fits


def best_per_batch(rows: list[dict[str, Any]]) -> dict[int, list[tuple[str, int]]]:
    """Per B, the backends by gas per prediction, cheapest first (measured cells only)."""
    table: dict[int, list[tuple[str, int]]] = {}
    for r in rows:
        if r.get("gas_per_prediction"):
            table.setdefault(r["batch"], []).append((r["backend"], r["gas_per_prediction"]))
    return {b: sorted(v, key=lambda item: item[1]) for b, v in sorted(table.items())}


RULE = """What it shows. The public-signal count (9 per prediction here: 8 inputs, 1 output) drives both the gas and
the verifier's size on the circom path, because snarkjs's Solidity verifiers unroll code per public signal:
- Groth16 pays one scalar multiplication (~7k gas) per signal: batching saves only the fixed ~214k, so the gas per
  prediction tends to ~63k (B=16: 76k, worse than halo2's 43k). Its verifier stays deployable to B=16 (and passes
  EIP-170 between B=16 and B=64).
- PLONK and FFLONK pay ~1.1k gas per signal, so their gas per prediction falls nearly as 1/B; but their verifiers
  pass EIP-170 between B=4 and B=16, and their setups need far larger powers of tau (FFLONK: 2^18 at B=4, 2^20 at
  B=16), out of reach for snarkjs in JS on this machine past B=4.
- halo2 takes instances as calldata: its verifier stays ~13.4 KB at every B, and its gas per prediction falls to 43k
  at B=16.
So: B=1 and small batches (B <= 4) are cheapest on FFLONK (PLONK where FFLONK's ptau is too large; Groth16 when
proving time matters); at B >= 16 a batch is best verified by halo2 (Groth16 is the only circom verifier that
still deploys, at 1.75x halo2's gas). Making circom batches cheaper needs fewer public signals, e.g. hashing the
batch's inputs and outputs into one signal that the oracle recomputes: not built or measured here."""


def rule_section(rows: list[dict[str, Any]]) -> str:
    """How a batch of B predictions is best verified on each backend, from this run's figures."""
    lines = ["## How a batch is best verified, per backend (measured in this run)", ""]
    for system, fixed, per_signal, size in gas_lines(rows):
        lines.append(
            f"- {system}: verify tx gas ~ {fixed:,} + {per_signal:,} per public signal; verifier runtime code grows "
            f"~{size:,} bytes per public signal (least squares over the stand-in rows)."
        )
    lines += ["", RULE, ""]
    lines.append("Gas per prediction, cheapest first (circom: this circuit's proof where proved, else the stand-in's):")
    lines.append("")
    over = {(r["batch"], r["backend"]) for r in rows if "over EIP-170" in str(r.get("verifier_bytes", ""))}
    for batch, ranked in best_per_batch(rows).items():
        cells = [f"{name} {gas:,}" + (" (verifier over EIP-170)" if (batch, name) in over else "") for name, gas in ranked]
        lines.append(f"- B={batch}: " + ", ".join(cells))
    return "\n".join(lines)


def _notes(load: tuple[tuple[float, ...], tuple[float, ...]], seconds: float, rows: list[dict[str, Any]]) -> str:
    start, end = (", ".join(f"{v:.1f}" for v in avg) for avg in load)
    halo2 = [r for r in rows if r["backend"] == "halo2"]
    same = all(r.get("instances_equal_circom") for r in halo2)
    return "\n".join(
        [
            f"One run of `python -m benchmarks.circom_batches`: {seconds / 60:.1f} min on 2 cores shared with other jobs "
            f"(load average 1/5/15 min: {start} at the start, {end} at the end): seconds are indicative.",
            "",
            "Everything in the table is measured in this run, on one local anvil (mined `gasUsed` of a transaction "
            "calling the verifier: through the oracle adapter for circom, the plain ezkl verifier for halo2). circom: "
            "the batch circuit of zkml/circom/batch.py (the batch-1 circuit of the example's ONNX at its tuned scales "
            "13/13, instantiated B times), proved on the first B samples of holdout.json; keys on the smallest cached "
            "development ptau at least as large as needed (`ptau power` is the needed one; a 'not proved' cell names "
            "the ptau it needs). The stand-in has the same public signals (same values) and one constraint per "
            "signal: its gas is the verifier's for B predictions whatever the circuit behind it. halo2: "
            "`zkml prove/verifier/deploy/verify-onchain --batch-size B` (the batch workspace as zkml builds it, "
            "calibrated logrows; its example batch: input.json, then calibration samples). "
            f"halo2's batched instances {'equal' if same else 'DO NOT equal'} the circom batch circuit's public signals "
            f"for the same samples at every B measured ({', '.join(str(r['batch']) for r in halo2) or 'none'}): all inputs "
            "row-major, then all outputs. The anvil runs with `--disable-code-size-limit --gas-limit 300000000`: a "
            "verifier whose runtime "
            "code is over EIP-170's 24,576 bytes is deployed there to measure its gas, and marked (over EIP-170): it "
            "cannot deploy on mainnet. halo2 setup and prove seconds are the workspace manifest's stage timings "
            "(a workspace already built by the same command earlier in the session is reused). halo2 is measured at "
            "B in --halo2-batches only (default 1, 4, 16: a B=64 batch workspace's keys take far longer on 2 shared "
            "cores); the committed oracle_gas.md has its B=16 attested submit (75,115 gas per prediction, verifier "
            "43,934 of it).",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    from zkml.circom.graph import ScaleSettings, read_graph
    from zkml.config import load_config
    from zkml.evm.anvil import local_anvil
    from zkml.evm.rpc import connect
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build/circom-batches"))
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--halo2-batches", nargs="*", type=int, default=[1, 4, 16])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    load_start, started = os.getloadavg(), time.perf_counter()
    onnx = Pipeline(load_config(CIRCUITS / CIRCUIT), Workspace(args.build_dir / "export")).export()
    tuned = json.loads((CIRCUITS / CIRCUIT / "tuned.json").read_text())["circuit"]
    single = read_graph(Path(onnx.path), ScaleSettings(tuned["input_scale"], tuned["param_scale"]))
    rows: list[dict[str, Any]] = []
    # No code-size limit and a 300M block gas limit: verifiers over EIP-170 (marked) still deploy, to measure their gas.
    with local_anvil(extra_args=("--disable-code-size-limit", "--gas-limit", "300000000")) as node:
        conn = connect(node.url)
        for batch in args.batches:
            if batch in args.halo2_batches:
                rows.append(halo2_row(batch, single, node.url, args.build_dir / "halo2"))
                logging.warning("B=%d halo2: %s", batch, rows[-1])
            rows += circom_rows(batch, single, conn, args.build_dir / "circom")
    seconds = time.perf_counter() - started
    notes = _notes((load_start, os.getloadavg()), seconds, rows) + "\n\n" + rule_section(rows)
    path = write_results("circom_batches", rows, COLUMNS, TITLE, notes)
    print(f"wrote {path} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
