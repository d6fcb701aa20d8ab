"""Every example circuit and corpus models on both proof backends, measured in one run: halo2 (ezkl) and circom + snarkjs.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.backends [--models NAME ...] [--skip-halo2] [--max-power 15] [--max-fflonk-power 16]
        [--make-ptau] [--out DIR]

For each model, one run on one local anvil:

- halo2 (:mod:`benchmarks.backends_halo2`): zkml's pipeline from scratch with the settings the circom
  rows use (example circuits: their committed tuned settings; corpus models the circom path takes: scale
  13; the others: zkml's default calibration), keys on the development SRS, a proof of the example input,
  the EVM verifier (plain, or reusable + VKA over EIP-170 as zkml chooses) deployed and sent that proof
  (the mined ``gasUsed``), and the fidelity on the circom rows' held-out samples. A failed measurement
  falls back to the committed results, and its 'measured' cell says so and why.
- circom: which backends take the model (:mod:`zkml.circom.support`; a refusal is named with its
  reason), and for a model it takes, the circuit generated from the model's ONNX at those scales,
  Groth16, PLONK and FFLONK keys on the cached development powers of tau, a proof of the example input
  with each (verified locally), each verifier behind its oracle adapter sent that proof, and the
  fidelity: the largest absolute difference between the circuit's outputs (ezkl's integer rules, which
  the circuit constrains) and the float model's over the held-out samples (the example circuits'
  ``holdout.json``; for corpus models, the input and 64 samples jittered around it, seed 0, as ``zkml
  tune`` generates them). A setup needing powers of tau above ``--max-power`` (Groth16, PLONK) or
  ``--max-fflonk-power``, or a development ptau that is not cached (unless ``--make-ptau``: the prepared
  file Groth16 and PLONK read takes ``prepare phase2`` in JS, ~2x per power from ~100 s at 2^11, ~20 min
  at 2^15; FFLONK's unprepared one ~1 min at 2^16), is not made: its row gives the fidelity and says why.

Writes ``backends.json`` and ``backends.md`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.backends_halo2 import cited_corpus, cited_example, cited_tables, jittered, measured_or_cited, short, write_samples_file
from benchmarks.common import CIRCUITS, RESULTS, write_results

SYSTEMS = ("groth16", "plonk", "fflonk")
CORPUS_SCALE = 13  # the circom path's scale for corpus models
HOLDOUT_JITTER = 64
# The largest powers of tau a run sets up by default. Groth16 and PLONK read a prepared ptau, whose
# `prepare phase2` in JS is the slow part (~20 min at 2^15, 4x per power above): 2^15 holds
# cnn_classifier's Groth16 setup. FFLONK reads the unprepared powers (new + beacon, ~1 min at 2^16)
# but needs 8x PLONK's power.
DEFAULT_MAX_POWER = 15
DEFAULT_MAX_FFLONK_POWER = 16
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


@dataclass(frozen=True)
class RunOptions:
    """What one run measures.

    Attributes:
        max_power: the largest powers of tau a Groth16 or PLONK setup may use.
        max_fflonk_power: the largest an FFLONK setup may use.
        make_ptau: generate a development ptau that is not cached (else the row is skipped).
        halo2: measure the halo2 rows (else cite the committed results).
        build: where the workspaces go.
    """

    max_power: int = DEFAULT_MAX_POWER
    max_fflonk_power: int = DEFAULT_MAX_FFLONK_POWER
    make_ptau: bool = False
    halo2: bool = True
    build: Path = Path("build/backends")


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def ptau_cached(power: int, system: str) -> bool:
    """Whether a development ptau ``system``'s setup can read at ``power`` is cached: that power or a larger one.

    Groth16 and PLONK read a prepared file; FFLONK either kind (:func:`zkml.circom.ptau.cached_dev_ptau`).
    """
    from zkml.circom.ptau import cached_dev_ptau

    return cached_dev_ptau(power, prepared=system != "fflonk") is not None


def power_skip(system: str, needed: int, options: RunOptions, cached: bool) -> str | None:
    """Why ``system``'s setup needing powers of tau 2^``needed`` is not made in this run (None: it is)."""
    flag, cap = ("--max-fflonk-power", options.max_fflonk_power) if system == "fflonk" else ("--max-power", options.max_power)
    if needed > cap:
        return f"needs powers of tau 2^{needed}, above the run's {flag} 2^{cap}"
    if not cached and not options.make_ptau:
        kind = "prepared " if system != "fflonk" else ""
        return f"needs powers of tau 2^{needed}: the {kind}development ptau 2^{needed} is not cached (--make-ptau makes it)"
    return None


def _float_outputs(onnx_path: Path, samples: list[list[float]]) -> list[list[float]]:
    """The float model's outputs per sample: onnxruntime, or onnx's reference evaluator where onnxruntime refuses the graph."""
    import numpy as np
    import onnx

    from zkml.reference import open_evaluator

    graph = onnx.load(str(onnx_path)).graph
    constants = {init.name for init in graph.initializer}
    shapes = {
        i.name: [d.dim_value if d.HasField("dim_value") else 1 for d in i.type.tensor_type.shape.dim]
        for i in graph.input
        if i.name not in constants
    }
    offsets = np.cumsum([0, *(int(np.prod(shape)) for shape in shapes.values())]).tolist()
    evaluator = open_evaluator(onnx_path)

    def run(sample: list[float]) -> list[float]:  # a sample is every input's values, in graph order
        feeds = {
            name: np.asarray(sample[offsets[k] : offsets[k + 1]], dtype=np.float32).reshape(shape)
            for k, (name, shape) in enumerate(shapes.items())
        }
        return [float(v) for output in evaluator.run(None, feeds) for v in np.asarray(output).ravel()]  # type: ignore[arg-type]

    return [run(s) for s in samples]


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


def _circom_rows(
    name: str, onnx_path: Path, settings: Path, samples: list[list[float]], conn: Any, folder: Path, options: RunOptions
) -> list[dict[str, Any]]:
    """Compile once, then per proof system: keys, a proof, local and on-chain verification (unless :func:`power_skip` says why not)."""
    from zkml.circom.build import compile_model, setup_keys
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.prove import prove, quantize_inputs, verify
    from zkml.evm.onchain import verify_onchain

    try:
        circuit, compile_s = _timed(compile_model, onnx_path, settings, folder / "circom")
        samples = split_samples(samples, circuit.graph.input_size)
        fidelity = float(f"{circom_fidelity(circuit.graph, onnx_path, samples):.3g}")
    except Exception as exc:  # noqa: BLE001  (one model's failure is its row's; the run goes on)
        return [{"model": name, "backend": "circom (all)", "takes": f"failed: {short(exc)}", "measured": "this run"}]
    rows = []
    for system in SYSTEMS:
        row: dict[str, Any] = {"model": name, "backend": system, "takes": "yes", "measured": "this run"}
        row.update(fidelity=fidelity, samples=len(samples), constraints=circuit.constraints, compile_s=round(compile_s, 2))
        needed = _ptau_power(circuit, system)
        skip = power_skip(system, needed, options, ptau_cached(needed, system))
        if skip:
            rows.append({**row, "takes": f"yes, not proved in this run: {skip}", "ptau_power": needed, "skipped_for_power": True})
            continue
        started = time.perf_counter()
        try:
            keys, setup_s = _timed(setup_keys, circuit, system)
            proof, prove_s = _timed(prove, circuit, keys, quantize_inputs(circuit, samples[0]), folder / system)
            contracts = compile_contracts(keys, circuit.public_signals, folder / f"evm-{system}")
            deployment = deploy(conn, contracts, keys, folder / "records")
            check = verify_onchain(conn, deployment.adapter.address, proof.path, send=True)
        except Exception as exc:  # noqa: BLE001  (a row says what failed; the run goes on)
            rows.append({**row, "takes": f"failed: {short(exc)}", "wall_s": round(time.perf_counter() - started, 1)})
            continue
        row.update(
            prove_s=round(prove_s, 2),
            setup_s=round(setup_s, 2),
            key_bytes=keys.zkey.stat().st_size,
            verifier_bytes=f"{contracts.verifier.runtime_size:,} + {contracts.adapter.runtime_size:,}",
            verify_gas=check.gas_used if check.accepted else f"refused: {check}",
            verified_locally=verify(keys, folder / system),
            ptau_power=keys.ptau.logrows,
            wall_s=round(time.perf_counter() - started, 1),
        )
        rows.append(row)
    return rows


def assemble_rows(name: str, source: str, halo2_verdict: Any, halo2: dict[str, Any], circom: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One model's rows: the halo2 row (its 'takes it' from preflight's verdict and whether zkml proved it), then the circom rows."""
    halo2 = dict(halo2)
    takes = "yes" if halo2_verdict.ok else f"no: {halo2_verdict.reason}"
    if not halo2_verdict.ok and halo2.pop("proved_by_zkml", False):
        takes = f"yes: zkml's export rewrites the raw graph's refusal ({halo2_verdict.reason})"
    halo2.pop("proved_by_zkml", None)
    rows = [{"model": name, "backend": "halo2", "takes": takes, **halo2}, *circom]
    return [{**r, "source": source} for r in rows]


def _refused_rows(name: str, reason: str) -> list[dict[str, Any]]:
    return [{"model": name, "backend": "circom (all)", "takes": f"no: {reason}", "measured": "this run (support.py)"}]


@dataclass(frozen=True)
class ModelCase:
    """One model as both backends see it: the ONNX the circom path reads, the halo2 config, the held-out samples."""

    name: str
    source: str  # "example" or "corpus"
    onnx: Path
    settings: Path  # the circom path's scales (an ezkl settings.json's run_args)
    config: Any  # the zkml CircuitConfig the halo2 path runs
    samples: list[list[float]]  # the circom path's samples: every input's values, concatenated in graph order
    samples_path: Path  # the same samples in ezkl's input_data format, every input
    cited: dict[str, Any]  # the committed halo2 figures, the fallback


def model_rows(case: ModelCase, conn: Any, options: RunOptions) -> list[dict[str, Any]]:
    """Both backends on one model."""
    from zkml.circom.graph import ScaleSettings
    from zkml.circom.support import groth16_verdict, halo2_verdict

    folder = options.build / case.source / case.name
    verdict = groth16_verdict(case.onnx, ScaleSettings.read(case.settings))
    config = case.config
    if case.source == "corpus" and verdict.ok:  # halo2 at the circom rows' scale; a model circom refuses keeps zkml's defaults
        config = config.with_circuit(input_scale=CORPUS_SCALE, param_scale=CORPUS_SCALE)
    if options.halo2:
        halo2 = measured_or_cited(config, folder / "halo2", case.samples_path, conn, case.cited, circom=verdict.ok)
    else:
        halo2 = {**case.cited, "measured": f"{case.cited['measured']} (--skip-halo2)"}
    started = time.perf_counter()
    circom = (
        _circom_rows(case.name, case.onnx, case.settings, case.samples, conn, folder, options)
        if verdict.ok
        else _refused_rows(case.name, verdict.reason)
    )
    logging.warning("%s: halo2 %s s, circom %.0f s", case.name, halo2.get("wall_s", "-"), time.perf_counter() - started)
    return assemble_rows(case.name, case.source, halo2_verdict(case.onnx), halo2, circom)


def _scales_file(folder: Path, input_scale: int, param_scale: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "settings.json"
    path.write_text(json.dumps({"run_args": {"input_scale": input_scale, "param_scale": param_scale, "scale_rebase_multiplier": 1}}))
    return path


def example_case(circuit: str, cited: dict[str, Any], build: Path) -> ModelCase:
    """An example circuit: its ONNX exported by the pipeline, its committed tuned scales and held-out data."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    folder = build / "example" / circuit
    config = load_config(CIRCUITS / circuit)
    onnx = Pipeline(config, Workspace(folder / "ws")).export()
    tuned = json.loads((CIRCUITS / circuit / "tuned.json").read_text())
    scales = tuned["circuit"]
    settings = _scales_file(folder, scales["input_scale"], scales.get("param_scale", scales["input_scale"]))
    holdout = CIRCUITS / circuit / "holdout.json"
    samples = json.loads(holdout.read_text())["input_data"]
    return ModelCase(circuit, "example", Path(onnx.path), settings, config, samples, holdout, cited_example(circuit, tuned, cited))


def corpus_case(entry: Any, cited: dict[str, Any], build: Path) -> ModelCase:
    """A corpus model: written by its builder; the input and 64 samples jittered around it."""
    from zkml.config import config_for_onnx

    folder = build / "corpus" / entry.name
    onnx_path, input_path = entry.write(folder)
    inputs = json.loads(input_path.read_text())["input_data"]
    samples = jittered(inputs, HOLDOUT_JITTER)
    samples_path = write_samples_file(folder / "holdout.json", samples)
    config = config_for_onnx(onnx_path.resolve(), input_path=input_path.resolve())
    settings = _scales_file(folder, CORPUS_SCALE, CORPUS_SCALE)
    return ModelCase(
        entry.name,
        "corpus",
        onnx_path,
        settings,
        config,
        [[v for part in s for v in part] for s in samples],
        samples_path,
        cited_corpus(entry.name, cited),
    )


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


def fidelity_line(rows: list[dict[str, Any]], taken: list[str]) -> str:
    """How the circom path's fidelity compares with halo2's on the models it takes (same samples, same reference)."""
    halo2 = {r["model"]: r.get("fidelity") for r in rows if r["backend"] == "halo2"}
    circom = {r["model"]: r.get("fidelity") for r in rows if r["backend"] in SYSTEMS and isinstance(r.get("fidelity"), float)}
    equal = [m for m in taken if m in circom and circom[m] == halo2.get(m)]
    other = [f"{m} ({circom.get(m)} against halo2's {halo2.get(m)})" for m in taken if m not in equal]
    return (
        f"Fidelity: the circom path's max abs error equals halo2's on {len(equal)} of the {len(taken)} models it takes "
        f"(both circuits compute ezkl's integers from the same graph and scales)"
        + (f"; it differs on {', '.join(other)}." if other else ".")
    )


def _notes(load: tuple[tuple[float, ...], tuple[float, ...]], seconds: float, rows: list[dict[str, Any]], options: RunOptions) -> str:
    models = sorted({r["model"] for r in rows})
    taken = sorted({r["model"] for r in rows if r["backend"] in SYSTEMS and r["takes"].startswith("yes")})
    unproved = [f"{r['model']} {r['backend']} (2^{r['ptau_power']})" for r in rows if r.get("skipped_for_power")]
    refused = [f"{r['model']} ({r['takes'].removeprefix('no: ')})" for r in rows if r["backend"] == "circom (all)"]
    halo2 = [r for r in rows if r["backend"] == "halo2"]
    cited = [r["model"] for r in halo2 if not str(r.get("measured", "")).startswith("this run")]
    start, end = (", ".join(f"{v:.1f}" for v in avg) for avg in load)
    return "\n".join(
        [
            f"One run of `python -m benchmarks.backends`: {seconds / 60:.1f} min on 2 cores shared with other jobs "
            f"(load average 1/5/15 min: {start} at the start, {end} at the end): seconds are indicative.",
            "",
            f"{len(models)} models; the circom path takes {len(taken)} ({', '.join(taken) or 'none'}) and refuses "
            f"{len(refused)}: {'; '.join(refused) or 'none'}.",
            "",
            fidelity_line(rows, taken),
            "",
            f"halo2 rows measured in this run: {len(halo2) - len(cited)} of {len(halo2)}"
            + (f"; cited from the committed results (the 'measured' cell says why): {', '.join(cited)}." if cited else "."),
            "",
            f"Setups needing powers of tau above 2^{options.max_power} for Groth16 and PLONK (`--max-power`) or "
            f"2^{options.max_fflonk_power} for FFLONK (`--max-fflonk-power`)"
            + ("" if options.make_ptau else ", or a development ptau that is not cached (prepared for Groth16 and PLONK)")
            + " are not made; those rows give the circuit's fidelity only (constraints and the power needed are in "
            f"backends.json): {', '.join(unproved) or 'none'}.",
            "",
            "halo2 rows: zkml's pipeline from scratch (nothing reused) with the circom rows' settings (example circuits: "
            "their committed tuned settings; corpus models the circom path takes: input and param scale 13, the rest "
            "by ezkl's calibration; corpus models it refuses: zkml's defaults), keys on the development SRS, a proof of "
            "the example input, the EVM verifier (plain; reusable + VKA over EIP-170, as zkml deploys it) sent that "
            "proof on the same anvil (mined `gasUsed`); the 'measured' cell gives logrows and how the settings were "
            "chosen. circom rows: circuit generated from the model's ONNX at the same scales, keys on the development "
            "powers of tau (cached per power; FFLONK's is the beacon output without `prepare phase2`, see "
            "zkml/circom/ptau.py), a proof of the example input, its verifier behind the oracle adapter sent that proof "
            "(the adapter adds ~5k gas). Fidelity, both backends: max abs error of the circuit's outputs (halo2: ezkl's "
            "witness; circom: ezkl's integer rules, which the circuit constrains) against the float model (onnxruntime) "
            "over the same held-out samples (examples: holdout.json; corpus: the input plus 64 jittered samples).",
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path("build/backends"))
    parser.add_argument("--models", nargs="*", help="example circuits and corpus models to run (default: every one)")
    parser.add_argument("--skip-halo2", action="store_true", help="cite the committed halo2 figures instead of measuring them")
    parser.add_argument("--max-power", type=int, default=DEFAULT_MAX_POWER, help="largest powers of tau of a Groth16 or PLONK setup")
    parser.add_argument("--max-fflonk-power", type=int, default=DEFAULT_MAX_FFLONK_POWER, help="largest powers of tau of an FFLONK setup")
    parser.add_argument("--make-ptau", action="store_true", help="generate a development ptau that is not cached (slow)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for backends.md/.json (default: benchmarks/results)")
    return parser


def selected(models: list[str] | None, examples: list[str], corpus: list[str]) -> tuple[list[str], list[str]]:
    """The example circuits and corpus models ``--models`` names (all of them when it is not given)."""
    if not models:
        return examples, corpus
    unknown = sorted(set(models) - set(examples) - set(corpus))
    if unknown:
        raise SystemExit(f"unknown models {unknown}: choose among {examples + corpus}")
    return [m for m in examples if m in models], [m for m in corpus if m in models]


def _guarded(name: str, source: str, rows: Any) -> list[dict[str, Any]]:
    """``rows()``, or one row saying the model could not be built (its export or writer failed): the run goes on."""
    try:
        return list(rows())
    except Exception as exc:  # noqa: BLE001
        logging.warning("%s: not built: %s", name, exc)
        return [{"model": name, "source": source, "backend": "-", "takes": f"not built: {short(exc)}"}]


def main(argv: list[str] | None = None) -> None:
    from tests.corpus.models import corpus
    from zkml.evm.anvil import local_anvil
    from zkml.evm.rpc import connect

    args = _parser().parse_args(argv)
    options = RunOptions(args.max_power, args.max_fflonk_power, make_ptau=args.make_ptau, halo2=not args.skip_halo2, build=args.build_dir)
    examples = sorted(p.name for p in CIRCUITS.iterdir() if (p / "zkml.toml").is_file())
    example_names, corpus_names = selected(args.models, examples, list(CORPUS))
    logging.basicConfig(level=logging.WARNING)
    load_start, started = os.getloadavg(), time.perf_counter()
    cited, rows = cited_tables(), []
    entries = {e.name: e for e in corpus()}
    with local_anvil() as node:
        conn = connect(node.url)
        for circuit in example_names:
            rows += _guarded(circuit, "example", lambda c=circuit: model_rows(example_case(c, cited, options.build), conn, options))
        for name in corpus_names:
            entry = entries[name]
            if not entry.available():
                rows.append({"model": name, "source": "corpus", "backend": "-", "takes": f"skipped: {entry.needs} is not installed"})
                continue
            rows += _guarded(name, "corpus", lambda e=entry: model_rows(corpus_case(e, cited, options.build), conn, options))
    seconds = time.perf_counter() - started
    notes = _notes((load_start, os.getloadavg()), seconds, rows, options)
    path = write_results("backends", rows, COLUMNS, TITLE, notes, results=args.out)
    if Path(args.out).resolve() == RESULTS.resolve() and not args.models:  # the committed run: zkml estimate's lines follow it
        write_estimate_rows(rows, options.build, ESTIMATE_ROWS)
    print(f"wrote {path} ({seconds:.0f} s)")


ESTIMATE_ROWS = Path(__file__).resolve().parents[1] / "zkml" / "circom" / "estimate_rows.json"


def write_estimate_rows(rows: list[dict[str, Any]], build: Path, path: Path) -> list[list[Any]]:
    """The rows ``zkml estimate`` fits its circom lines through: every model with all three systems proved.

    (model, system, constraints, PLONK gates, public signals, prove s, verify gas); gates and public
    signals are counted on the run's compiled circuit (``build/<source>/<model>/circom/model.r1cs``).
    """
    from zkml.circom.build import r1cs_counts
    from zkml.circom.systems import plonk_gates

    by_model: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["backend"] in SYSTEMS and isinstance(row.get("verify_gas"), int) and isinstance(row.get("prove_s"), float | int):
            by_model.setdefault(row["model"], {})[row["backend"]] = row
    found: list[list[Any]] = []
    for model, systems in sorted(by_model.items()):
        if set(systems) != set(SYSTEMS):
            continue
        source = systems["groth16"].get("source") or ("example" if (CIRCUITS / model).is_dir() else "corpus")
        r1cs = build / source / model / "circom" / "model.r1cs"
        constraints, public = r1cs_counts(r1cs)
        gates = plonk_gates(r1cs)
        found += [[model, name, constraints, gates, public, systems[name]["prove_s"], systems[name]["verify_gas"]] for name in SYSTEMS]
    source = json.dumps(f"benchmarks/results/backends.md (one run, {time.strftime('%Y-%m-%d')})")
    lines = ",\n".join("  " + json.dumps(row) for row in found)  # one row per line: diffs stay readable
    path.write_text(f'{{"source": {source},\n "rows": [\n{lines}\n ]}}\n')
    return found


if __name__ == "__main__":
    main()
