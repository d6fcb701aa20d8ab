"""Every example circuit and corpus models on both proof backends: halo2 (ezkl) and circom + snarkjs.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.backends [--corpus N] [--build-dir build/backends]

For each model, one run: which backends can take it (:mod:`zkml.circom.support`; a model the
circom path cannot take is named with its reason), and for every model it takes, measured now:
the circom circuit generated from the model's ONNX and the halo2 path's scales, Groth16, PLONK
and FFLONK keys on the cached development powers of tau, a proof of the example input with each
(verified locally), each verifier deployed behind its oracle adapter on one local anvil and sent
that proof (a mined transaction's ``gasUsed``), and the fidelity: the largest absolute difference
between the circuit's outputs (ezkl's integer rules, which the circuit constrains) and the float
model's over the held-out samples (the example circuits' ``holdout.json``; for corpus models,
64 samples jittered around the input, seed 0, as ``zkml tune`` generates them). A setup needing
powers of tau above :data:`MAX_MEASURED_POWER` is not made (its row gives the fidelity only), to
keep the run under ~25 minutes.

The halo2 columns are cited from the committed results, not measured again (the brief allows it to
keep the run within ~40 minutes on 2 shared cores): per example circuit, fidelity from its committed
``tuned.json`` (held-out), prove seconds from ``tune_all.md``, verify gas and verifier bytes from
``evm_gas.md``; per corpus model, ``corpus.md``. The proving key bytes are measured where a halo2
workspace is already built (``build/<name>/pk.key``).

Writes ``benchmarks/results/backends.json`` and ``benchmarks/results/backends.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, RESULTS, write_results

SYSTEMS = ("groth16", "plonk", "fflonk")
CORPUS_SCALE = 13  # the circom path's scale for corpus models (their halo2 runs calibrated to 13 as well)
HOLDOUT_JITTER = 64
# Largest powers of tau a run sets up, per system: a prepared development ptau above 2^12 (Groth16,
# PLONK) must first go through snarkjs's `prepare phase2` in JS (~2x per power from ~100 s at 2^11),
# which would take this run far past ~25 minutes; FFLONK reads the unprepared powers, cheap to 2^15.
MAX_MEASURED_POWER = {"groth16": 12, "plonk": 12, "fflonk": 15}
TITLE = "Proof backends per model: halo2 (ezkl) and circom + snarkjs (Groth16, PLONK, FFLONK)"
COLUMNS = [
    ("model", "model"),
    ("source", "source"),
    ("backend", "backend"),
    ("takes", "takes it"),
    ("fidelity", "fidelity (max abs err, held-out)"),
    ("samples", "samples"),
    ("prove_s", "prove s"),
    ("key_bytes", "proving key bytes"),
    ("verifier_bytes", "verifier bytes (+ adapter)"),
    ("verify_gas", "verify tx gas"),
    ("measured", "measured"),
]


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def _cited_tables() -> dict[str, dict[str, dict[str, Any]]]:
    """The committed halo2 figures: evm_gas (plain verifier), tune_all (tuned prove s) and corpus rows, by model."""
    evm = {r["circuit"]: r for r in json.loads((RESULTS / "evm_gas.json").read_text())["rows"] if r.get("verifier") == "plain"}
    tune = {r["circuit"]: r for r in json.loads((RESULTS / "tune_all.json").read_text())["rows"]}
    corpus = {r["model"]: r for r in json.loads((RESULTS / "corpus.json").read_text())["rows"]}
    return {"evm": evm, "tune": tune, "corpus": corpus}


def _float_outputs(onnx_path: Path, samples: list[list[float]]) -> list[list[float]]:
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    shape = [d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape]
    return [np.asarray(session.run(None, {name: np.asarray(s, dtype=np.float32).reshape(shape)})[0]).ravel().tolist() for s in samples]


def split_samples(samples: list[list[float]], width: int) -> list[list[float]]:
    """Samples of ``width`` values each (a held-out file may hold a batch as one flat row)."""
    flat = [float(v) for sample in samples for v in sample]
    if len(flat) % width:
        raise SystemExit(f"{len(flat)} held-out values do not split into samples of {width}")
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def circom_fidelity(graph: Any, onnx_path: Path, samples: list[list[float]]) -> float:
    """Max abs error of the circuit's outputs (ezkl's integer rules) against the float model's."""
    from zkml.circom.graph import evaluate, quantize

    worst = 0.0
    for sample, reference in zip(samples, _float_outputs(onnx_path, samples), strict=True):
        outputs = evaluate(graph, [quantize(v, graph.scale) for v in sample])
        worst = max(worst, *(abs(o / 2**graph.scale - r) for o, r in zip(outputs, reference, strict=True)))
    return worst


def _ptau_power(circuit: Any, system: str) -> int:
    """The powers of tau ``system``'s setup of ``circuit`` needs (zkml.circom.build's rules)."""
    from zkml.circom.ptau import power_for
    from zkml.circom.systems import plonk_gates, universal_ptau_power

    if system == "groth16":
        return power_for(circuit.constraints, circuit.public_signals)
    return universal_ptau_power(system, plonk_gates(circuit.r1cs))


def _circom_rows(name: str, onnx_path: Path, settings: Path, samples: list[list[float]], conn: Any, folder: Path) -> list[dict[str, Any]]:
    """Compile once, then per proof system: keys, a proof, local and on-chain verification (up to :data:`MAX_MEASURED_POWER`)."""
    from zkml.circom.build import compile_model, setup_keys
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.prove import prove, quantize_inputs, verify
    from zkml.evm.onchain import verify_onchain

    circuit = compile_model(onnx_path, settings, folder / "circom")
    samples = split_samples(samples, circuit.graph.input_size)
    fidelity = circom_fidelity(circuit.graph, onnx_path, samples)
    rows = []
    for system in SYSTEMS:
        row: dict[str, Any] = {"model": name, "backend": system, "takes": "yes", "measured": "this run"}
        needed, max_power = _ptau_power(circuit, system), MAX_MEASURED_POWER[system]
        if needed > max_power:
            rows.append(
                {
                    **row,
                    "takes": f"yes, not proved in this run: needs powers of tau 2^{needed}, above the run's 2^{max_power}",
                    "fidelity": float(f"{fidelity:.3g}"),
                    "samples": len(samples),
                    "constraints": circuit.constraints,
                    "ptau_power": needed,
                }
            )
            continue
        try:
            keys, setup_s = _timed(setup_keys, circuit, system)
            proof, prove_s = _timed(prove, circuit, keys, quantize_inputs(circuit, samples[0]), folder / system)
            contracts = compile_contracts(keys, circuit.public_signals, folder / f"evm-{system}")
            deployment = deploy(conn, contracts, keys, folder / "records")
            check = verify_onchain(conn, deployment.adapter.address, proof.path, send=True)
        except Exception as exc:  # noqa: BLE001  (a row says what failed; the run goes on)
            rows.append({**row, "takes": f"failed: {str(exc)[:160]}"})
            continue
        row.update(
            fidelity=float(f"{fidelity:.3g}"),
            samples=len(samples),
            prove_s=round(prove_s, 2),
            setup_s=round(setup_s, 2),
            key_bytes=keys.zkey.stat().st_size,
            verifier_bytes=f"{contracts.verifier.runtime_size:,} + {contracts.adapter.runtime_size:,}",
            verify_gas=check.gas_used if check.accepted else f"refused: {check}",
            verified_locally=verify(keys, folder / system),
            constraints=circuit.constraints,
            ptau_power=keys.ptau.logrows,
        )
        rows.append(row)
    return rows


def _refused_rows(name: str, reason: str) -> list[dict[str, Any]]:
    return [{"model": name, "backend": "circom (all)", "takes": f"no: {reason}", "measured": "this run (support.py)"}]


def _model_rows(
    name: str, source: str, onnx_path: Path, settings: Path, samples: list[list[float]], halo2: dict[str, Any], conn: Any, folder: Path
) -> list[dict[str, Any]]:
    from zkml.circom.graph import ScaleSettings
    from zkml.circom.support import groth16_verdict, halo2_verdict

    h2 = halo2_verdict(onnx_path)
    takes = "yes" if h2.ok else f"no: {h2.reason}"
    if not h2.ok and halo2.pop("proved_by_zkml", False):
        takes = f"yes: zkml's export rewrites the raw graph's refusal ({h2.reason})"
    halo2.pop("proved_by_zkml", None)
    rows = [{"model": name, "backend": "halo2", "takes": takes, **halo2}]
    verdict = groth16_verdict(onnx_path, ScaleSettings.read(settings))
    rows += _circom_rows(name, onnx_path, settings, samples, conn, folder) if verdict.ok else _refused_rows(name, verdict.reason)
    return [{**r, "source": source} for r in rows]


def _scales_file(folder: Path, input_scale: int, param_scale: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": input_scale, "param_scale": param_scale, "scale_rebase_multiplier": 1}}))
    return path


def example_rows(circuit: str, cited: dict[str, Any], conn: Any, build: Path) -> list[dict[str, Any]]:
    """One example circuit: its ONNX exported by the pipeline, its committed tuned scales and held-out data."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    folder = build / circuit
    onnx = Pipeline(load_config(CIRCUITS / circuit), Workspace(folder / "ws")).export()
    tuned = json.loads((CIRCUITS / circuit / "tuned.json").read_text())
    settings = _scales_file(folder, tuned["circuit"]["input_scale"], tuned["circuit"].get("param_scale", tuned["circuit"]["input_scale"]))
    samples = json.loads((CIRCUITS / circuit / "holdout.json").read_text())["input_data"]
    evm, tune = cited["evm"].get(circuit, {}), cited["tune"].get(circuit, {})
    pk = Path("build") / circuit / "pk.key"
    halo2 = {
        "fidelity": float(f"{tuned['fidelity']['max_abs_error']:.3g}"),
        "samples": tuned["fidelity"].get("samples", ""),
        "prove_s": tune.get("tuned_prove_seconds", ""),
        "key_bytes": pk.stat().st_size if pk.is_file() else "",
        "verifier_bytes": evm.get("runtime_bytes", ""),
        "verify_gas": evm.get("verify_gas", ""),
        "measured": "cited: tuned.json, tune_all, evm_gas" + (" (pk bytes: build/)" if pk.is_file() else ""),
    }
    return _model_rows(circuit, "example", Path(onnx.path), settings, samples, halo2, conn, folder)


def _jittered(sample: list[float], count: int) -> list[list[float]]:
    import numpy as np

    rng = np.random.default_rng(0)
    base = np.asarray(sample, dtype=np.float64)
    noise = rng.normal(size=(count, base.size)) * np.maximum(np.abs(base), 1.0) * 0.1
    return [base.tolist(), *(base + noise).tolist()]


def corpus_rows(entry: Any, cited: dict[str, Any], conn: Any, build: Path) -> list[dict[str, Any]]:
    """One corpus model: written by its builder; circom at scale 13; halo2 cited from corpus.json."""
    folder = build / "corpus" / entry.name
    onnx_path, input_path = entry.write(folder)
    sample = json.loads(input_path.read_text())["input_data"]
    settings = _scales_file(folder, CORPUS_SCALE, CORPUS_SCALE)
    row = cited["corpus"].get(entry.name, {})
    halo2 = {
        "proved_by_zkml": bool(row.get("zkml_ok")),
        "fidelity": row.get("fidelity", ""),
        "samples": "generated (corpus.md)",
        "prove_s": row.get("prove_s_tuned") or row.get("prove_s", ""),
        "verifier_bytes": row.get("verifier_bytes", ""),
        "verify_gas": row.get("verify_gas", ""),
        "measured": f"cited: corpus.json ({row.get('measured_on', '')})",
    }
    return _model_rows(entry.name, "corpus", onnx_path, settings, _jittered(sample[0], HOLDOUT_JITTER), halo2, conn, folder)


CORPUS = (
    "torch_mlp_op11",
    "torch_mlp_op17",
    "skl2onnx_mlp_regressor",
    "skl2onnx_mlp_classifier",
    "int8_weights",
    "float_equal_op10",
    "torch_conv_op13",
    "torch_conv_pool_op17",
    "torch_bn1d_op17",
    "torch_layernorm_op17",
    "torch_softmax_op13",
    "torch_rnn_op14",
    "torch_attention_op17",
    "torch_multi_io_op17",
    "torch_multi_head_op15",
    "torch_conv_bn_op13",
    "torch_layernorm_op13",
    "torch_softmax_op11",
)


def _notes(load: tuple[tuple[float, ...], tuple[float, ...]], seconds: float, rows: list[dict[str, Any]]) -> str:
    models = sorted({r["model"] for r in rows})
    taken = sorted({r["model"] for r in rows if r["backend"] in SYSTEMS and r["takes"].startswith("yes")})
    unproved = sorted({r["model"] for r in rows if r["backend"] in SYSTEMS and r["takes"].startswith("yes, not proved")})
    refused = [f"{r['model']} ({r['takes'].removeprefix('no: ')})" for r in rows if r["backend"] == "circom (all)"]
    start, end = (", ".join(f"{v:.1f}" for v in avg) for avg in load)
    return "\n".join(
        [
            f"One run of `python -m benchmarks.backends`: {seconds / 60:.1f} min on 2 cores shared with other jobs "
            f"(load average 1/5/15 min: {start} at the start, {end} at the end): seconds are indicative.",
            "",
            f"{len(models)} models; the circom path takes {len(taken)} ({', '.join(taken) or 'none'}) and refuses "
            f"{len(refused)}: {'; '.join(refused) or 'none'}.",
            "",
            "Restricted to keep the run near ~25 minutes: setups needing powers of tau above 2^12 for Groth16 and PLONK "
            "(a prepared development ptau of 2^13+ must first go through snarkjs's `prepare phase2` in JS, ~2x per power "
            "from ~100 s at 2^11) or above 2^15 for FFLONK are not made; those rows give the circuit's fidelity only "
            f"(constraints and the power needed are in backends.json): {', '.join(unproved) or 'none'}.",
            "",
            "circom rows are measured in this run: circuit generated from the model's ONNX at the halo2 path's scales "
            "(example circuits: their committed tuned scales; corpus: 13), keys on the development powers of tau "
            "(cached per power; FFLONK's is the beacon output without `prepare phase2`, see zkml/circom/ptau.py), a "
            "proof of the example input, its verifier behind the oracle adapter sent that proof on a local anvil "
            "(mined `gasUsed`; the adapter adds ~5k). Fidelity: max abs error of the circuit's outputs (ezkl's "
            "integer rules, which the circuit constrains) against the float model over the held-out samples "
            "(examples: holdout.json; corpus: the input plus 64 jittered samples). halo2 rows are cited from the "
            "committed results (tuned.json, tune_all, evm_gas, corpus), as the 'measured' column says: prove s is the "
            "tuned settings' (tune_all; corpus: `prove s tuned`); a blank cell is not in those results (evm_gas.md "
            "covers 4 of the 6 example circuits; halo2 proving key bytes only where `build/<name>/pk.key` exists).",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    from tests.corpus.models import corpus
    from zkml.evm.anvil import local_anvil
    from zkml.evm.rpc import connect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build/backends"))
    parser.add_argument("--examples", nargs="*", default=sorted(p.name for p in CIRCUITS.iterdir() if (p / "zkml.toml").is_file()))
    parser.add_argument("--corpus", nargs="*", default=list(CORPUS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    load_start, started = os.getloadavg(), time.perf_counter()
    cited, rows = _cited_tables(), []
    entries = {e.name: e for e in corpus()}
    with local_anvil() as node:
        conn = connect(node.url)
        for circuit in args.examples:
            rows += example_rows(circuit, cited, conn, args.build_dir)
            logging.warning("%s done (%.0f s)", circuit, time.perf_counter() - started)
        for name in args.corpus:
            entry = entries[name]
            if not entry.available():
                rows.append({"model": name, "source": "corpus", "backend": "-", "takes": f"skipped: {entry.needs} is not installed"})
                continue
            rows += corpus_rows(entry, cited, conn, args.build_dir)
            logging.warning("%s done (%.0f s)", name, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    path = write_results("backends", rows, COLUMNS, TITLE, _notes((load_start, os.getloadavg()), seconds, rows))
    print(f"wrote {path} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
