"""Measure the circom systems (Groth16, PLONK, FFLONK) on a run's model, for ``[circuit] backend = "auto"``.

Each system, on the halo2 workspace's own ONNX and settings (so on the same quantized graph):
the circom circuit compiled once (``<workspace>/circom``), the system's keys on the development
powers of tau, a proof of the run's input (its seconds: ``prove_s``, snarkjs in JS), verified
locally, then the verifier and its oracle adapter deployed on the run's chain and sent that
proof: ``verify_gas`` is the mined transaction's ``gasUsed``, as ``benchmarks/backends.py``
measures it and as the halo2 run's own on-chain verification does. Fidelity is the max abs error
of the circuit's outputs (:func:`zkml.circom.graph.evaluate`, ezkl's integer rules, which the
circuit constrains) against the float outputs the halo2 run compared with, on the same held-out
samples (the workspace's ``fidelity.json``): one metric for every backend. On those samples the
circuit's outputs must also equal ezkl's witness outputs exactly (the same file's
``circuit_outputs``): where one differs (a model whose rounding the circom path mirrors wrongly),
every circom system is left out with the sample and values, before any key or proof is made.

The powers-of-tau rule (what keeps ``make demo`` from silently spending minutes): a system is
measured when the powers of tau its setup needs are cached (``~/.cache/zkml/ptau``: the development
one of that power, or an imported one at least as large), or when generating the development one
is estimated within :data:`PTAU_BUDGET_S` (logged as a warning before it starts). The estimates are snarkjs's times on this 2-core machine: a prepared ptau (Groth16, PLONK)
~100 s at 2^11 and twice per power above; FFLONK's unprepared powers ~7 min at 2^15, half per
power below. A system over the budget is left out of the frontier with its reason
(``fflonk: not measured: ...``), and the one-line reason says so.

The measurements are cached in ``<workspace>/backends.json``, keyed on the ONNX, the settings,
the generated circom source (zkml's circuit generator's output), the circom and snarkjs versions,
the input proved, the held-out data and which systems the rule lets in: a second run reads them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import BackendRow, Srs, sha256_file
from zkml.circom.build import CircomCircuit, SnarkKeys, compile_model, r1cs_counts, setup_keys
from zkml.circom.systems import SYSTEMS, plonk_gates, universal_ptau_power
from zkml.errors import CircuitError

log = logging.getLogger(__name__)

MEASUREMENTS_FILE = "backends.json"
CIRCOM_DIR = "circom"
# The longest `zkml run` may spend generating a missing development ptau for one system: enough for
# Groth16's prepared 2^12 (the example MLP's, ~200 s once per machine), not for PLONK's or FFLONK's larger ones.
PTAU_BUDGET_S = 240.0
# snarkjs's generation times on this machine (issue 24, zkml/circom/ptau.py): prepared 2^11, powers-only 2^15.
_PREPARED_S_AT_11 = 100.0
_POWERS_S_AT_15 = 420.0


@dataclass(frozen=True)
class CircomRun:
    """The circom systems' rows of the frontier, and whether they were read from the workspace's cache."""

    rows: tuple[BackendRow, ...]
    cached: bool


def ptau_cached(power: int, *, prepared: bool) -> bool:
    """Whether a setup of ``power`` finds its powers of tau cached: one of that power or larger (zkml.circom.ptau.resolve_ptau)."""
    from zkml.circom.ptau import list_cached_ptau

    return any((file_prepared or not prepared) and srs.logrows >= power for srs, file_prepared in list_cached_ptau())


def ptau_seconds(power: int, *, prepared: bool) -> float:
    """The estimated seconds to generate a development ptau (see the module's rule)."""
    return _PREPARED_S_AT_11 * 2.0 ** (power - 11) if prepared else _POWERS_S_AT_15 * 2.0 ** (power - 15)


def ptau_need(circuit: CircomCircuit, name: str) -> tuple[int, bool]:
    """(power, prepared) of the development ptau ``name``'s setup of ``circuit`` reads (zkml.circom.build's rules)."""
    from zkml.circom.ptau import power_for

    if name == "groth16":
        return power_for(circuit.constraints, circuit.public_signals), True
    return universal_ptau_power(name, plonk_gates(circuit.r1cs)), name == "plonk"


def ptau_verdict(circuit: CircomCircuit, name: str) -> str:
    """Empty when ``name`` may be measured under the ptau rule, else why not (for the frontier)."""
    power, prepared = ptau_need(circuit, name)
    if ptau_cached(power, prepared=prepared):
        return ""
    seconds = ptau_seconds(power, prepared=prepared)
    if seconds <= PTAU_BUDGET_S:
        return ""
    kind = "prepared " if prepared else ""
    return (
        f"not measured: needs the {kind}development powers of tau 2^{power}, not cached "
        f"(~{seconds / 60:.0f} min to generate once, over zkml run's {PTAU_BUDGET_S:.0f} s budget)"
    )


def circuit_source(workspace: Path) -> tuple[Path, int]:
    """The batch-1 ONNX a workspace's circom circuit is generated from, and its batch size.

    A batch-B workspace (``zkml ... --batch-size B``) keeps its batch-1 model as ``model.b1.onnx``:
    its circom circuit is that model's, B times (:mod:`zkml.circom.batch`). Any other workspace: its
    ``model.onnx``, batch 1.

    Raises:
        CircuitError: a batch workspace without its batch-1 model.
    """
    from zkml.workspace import Layout

    layout = Layout(Path(workspace))
    onnx_path = Path(layout.onnx)
    batch = int(json.loads(layout.batch_stamp.read_text())["batch_size"]) if layout.batch_stamp.is_file() else 1
    if batch == 1:
        return onnx_path, 1
    single = onnx_path.with_name(f"{onnx_path.stem}.b1.onnx")
    if not single.is_file():
        raise CircuitError(f"the batch-{batch} workspace {workspace} has no batch-1 model {single.name}", hint="build it again")
    return single, batch


def load_or_compile(onnx_path: Path, settings_path: Path, folder: Path, *, batch_size: int = 1) -> CircomCircuit:
    """The compiled circuit in ``folder`` when its source is what the generator makes now, else compiled again.

    ``onnx_path`` is the batch-1 model; ``batch_size`` B > 1 makes its batch circuit (:func:`zkml.circom.batch.compile_graph`).
    """
    from zkml.circom.batch import batch_graph, batch_source, compile_graph
    from zkml.circom.build import CIRCUIT_NAME
    from zkml.circom.codegen import circom_source
    from zkml.circom.graph import ScaleSettings, read_graph

    graph = read_graph(Path(onnx_path), ScaleSettings.read(Path(settings_path)))
    source, r1cs = folder / f"{CIRCUIT_NAME}.circom", folder / f"{CIRCUIT_NAME}.r1cs"
    wasm = folder / f"{CIRCUIT_NAME}_js" / f"{CIRCUIT_NAME}.wasm"
    text = circom_source(graph) if batch_size == 1 else batch_source(graph, batch_size)
    if source.is_file() and r1cs.is_file() and wasm.is_file() and source.read_text() == text:
        constraints, public = r1cs_counts(r1cs)
        return CircomCircuit(folder, batch_graph(graph, batch_size), constraints, public, sha256_file(r1cs))
    return compile_model(onnx_path, settings_path, folder) if batch_size == 1 else compile_graph(graph, batch_size, folder)


def instances_disagreement(circuit: CircomCircuit, halo2_proof: Path) -> str:
    """Where the circuit's public signals on the halo2 proof's inputs differ from that proof's instances ("" when equal).

    The circom circuit must compute ezkl's integers: on the inputs the halo2 run proved, its
    outputs (:func:`zkml.circom.graph.evaluate`) must be the halo2 proof's outputs exactly.
    """
    from zkml.circom.graph import evaluate
    from zkml.circom.prove import from_field
    from zkml.evm.onchain import read_proof

    instances = [from_field(v) for v in read_proof(halo2_proof).instances]
    n = circuit.graph.input_size
    if len(instances) != n + circuit.graph.output_size:
        return f"the halo2 proof has {len(instances)} instances, the circuit {n + circuit.graph.output_size} public signals"
    mine, theirs = list(evaluate(circuit.graph, instances[:n])), instances[n:]
    j = next((j for j, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b), None)
    return "" if j is None else f"the run's proof (output {j}: {mine[j]} against ezkl's {theirs[j]})"


def load_or_setup_keys(circuit: CircomCircuit, name: str) -> SnarkKeys:
    """The keys recorded beside the circuit (``keys[.<system>].json``) when they are still its, else a new setup."""
    record = circuit.folder / ("keys.json" if name == "groth16" else f"keys.{name}.json")
    zkey = circuit.folder / ("model.zkey" if name == "groth16" else f"model.{name}.zkey")
    vk = circuit.folder / ("verification_key.json" if name == "groth16" else f"verification_key.{name}.json")
    if record.is_file() and zkey.is_file() and vk.is_file():
        data = json.loads(record.read_text())
        ptau = data["ptau"]
        if data.get("r1cs_sha256") == circuit.r1cs_sha256 and data.get("zkey_sha256") == sha256_file(zkey) and Path(ptau["path"]).is_file():
            srs = Srs(Path(ptau["path"]), ptau["sha256"], ptau["power"], ptau["provenance"], pinned=ptau.get("pinned") is True)
            return SnarkKeys(zkey, vk, data["zkey_sha256"], data["vk_sha256"], circuit.r1cs_sha256, srs, name)
    power, prepared = ptau_need(circuit, name)
    if not ptau_cached(power, prepared=prepared):
        log.warning(
            "%s: generating the development powers of tau 2^%d once (~%.0f s estimated)",
            name,
            power,
            ptau_seconds(power, prepared=prepared),
        )
    return setup_keys(circuit, name)


def circom_fidelity(circuit: CircomCircuit, fidelity_path: Path) -> tuple[float, int, str]:
    """(max abs error, samples, disagreement) of the circuit's outputs on the halo2 run's held-out samples.

    The error is against the float outputs in the run's ``fidelity.json``. The disagreement is
    checked against ezkl's own witness outputs there (``circuit_outputs``): the circom path must
    compute ezkl's integers exactly, so any difference (an op combination whose rounding zkml
    mirrors wrongly) is described ("3 of 64 held-out samples (first: ...)"); "" when none differ.
    """
    from zkml.circom.graph import evaluate, quantize

    report = json.loads(Path(fidelity_path).read_text())
    payload = json.loads(Path(report["data"]).read_text())
    graph = circuit.graph
    samples = samples_of(payload["input_data"], [size for _, size in graph.inputs])[: len(report["float_outputs"])]
    witnessed = report.get("circuit_outputs") or [None] * len(samples)
    worst, differing, first = 0.0, 0, ""
    for k, (sample, reference, ezkl) in enumerate(zip(samples, report["float_outputs"], witnessed, strict=True)):
        outputs = evaluate(graph, [quantize(v, graph.scale) for v in sample])
        worst = max(worst, *(abs(o / 2**graph.scale - float(r)) for o, r in zip(outputs, _flatten(reference), strict=True)))
        if ezkl is None:
            continue
        expected = [round(float(v) * 2**graph.scale) for v in _flatten(ezkl)]
        if list(outputs) != expected:
            differing += 1
            j = next((j for j, (a, b) in enumerate(zip(outputs, expected, strict=False)) if a != b), min(len(outputs), len(expected)))
            mine, theirs = (seq[j] if j < len(seq) else "none" for seq in (outputs, expected))
            first = first or f"sample {k}, output {j}: {mine} against ezkl's {theirs} at scale {graph.scale}"
    disagreement = f"{differing} of {len(samples)} held-out samples (first: {first})" if differing else ""
    return worst, len(samples), disagreement


def samples_of(input_data: list[Any], sizes: list[int]) -> list[list[float]]:
    """Per sample, every input's values concatenated in graph order, from ezkl's ``input_data``.

    That holds one list per input with all samples' values (or, for one input, any nesting of them).
    """
    if len(sizes) == 1:
        flat = [float(v) for v in _flatten(input_data)]
        return [flat[i : i + sizes[0]] for i in range(0, len(flat), sizes[0])]
    per_input = [[float(v) for v in _flatten(values)] for values in input_data]
    if len(per_input) != len(sizes) or any(len(v) % size for v, size in zip(per_input, sizes, strict=True)):
        from zkml.errors import CircuitError

        raise CircuitError(f"held-out data with {len(per_input)} inputs does not split into samples of sizes {sizes}")
    count = len(per_input[0]) // sizes[0]
    return [[v for values, size in zip(per_input, sizes, strict=True) for v in values[j * size : (j + 1) * size]] for j in range(count)]


def _flatten(value: Any) -> list[Any]:
    return [x for item in value for x in _flatten(item)] if isinstance(value, list) else [value]


def setup_trust(keys: SnarkKeys) -> str:
    """What a system's keys trust: a per-model phase 2 (Groth16) and the powers of tau, with their provenance."""
    ptau = f"ptau 2^{keys.ptau.logrows} ({keys.ptau.provenance}{', pinned' if keys.ptau.pinned else ''})"
    if keys.system != "groth16":
        return f"universal: {ptau} only"
    # zkml.circom.build: a public beacon on the development ptau, one discarded fresh contribution on an imported one.
    phase2 = "public beacon" if keys.ptau.provenance == "dev-unsafe" else "one fresh contribution"
    return f"per-model phase 2 ({phase2}) on {ptau}"


def measure_system(
    circuit: CircomCircuit, name: str, inputs: Sequence[int], conn: Any, *, fidelity: float, allow_unsafe_srs: bool
) -> BackendRow:
    """One system: keys, a timed proof of ``inputs``, local verification, verifier + adapter on chain, a mined verify.

    Raises:
        ProofError: the proof does not verify locally.
        ZkmlError: a step of snarkjs, solc or the chain failed.
    """
    from zkml.circom.evm import compile_contracts, deploy
    from zkml.circom.prove import prove, verify
    from zkml.errors import ProofError
    from zkml.evm.onchain import verify_onchain

    keys = load_or_setup_keys(circuit, name)
    proof_dir = circuit.folder / f"proof-{name}"
    started = time.perf_counter()
    proof = prove(circuit, keys, inputs, proof_dir)
    prove_s = time.perf_counter() - started
    if not verify(keys, proof_dir):
        raise ProofError(f"the {name} proof of the run's input does not verify locally")
    contracts = compile_contracts(keys, circuit.public_signals, circuit.folder / f"evm-{name}")
    deployment = deploy(conn, contracts, keys, circuit.folder / "records", allow_unsafe_srs=allow_unsafe_srs)
    check = verify_onchain(conn, deployment.adapter.address, proof.path, send=True)
    if not check.accepted or check.gas_used is None:
        raise ProofError(f"the {name} verifier refused the run's proof on chain: {check.reason}")
    log.info("%s: %.2f s to prove, %d verify gas", name, prove_s, check.gas_used)
    note = f"measured: proof of the run's input, mined verify tx through the adapter at {deployment.adapter.address}"
    return BackendRow(name, fidelity, round(prove_s, 3), check.gas_used, keys.zkey.stat().st_size, setup_trust(keys), note)


def _cache_key(circuit: CircomCircuit, parts: dict[str, Any], verdicts: dict[str, str]) -> str:
    from zkml.circom import tools
    from zkml.workspace import fingerprint

    versions = {name: tools.version(name) for name in ("circom2", "snarkjs")}
    return fingerprint({**parts, "circom_source": sha256_file(circuit.source), "tools": versions, "ptau_rule": verdicts})


def measure_circom(
    workspace: Path,
    onnx_path: Path,
    settings_path: Path,
    input_path: Path,
    fidelity_path: Path | None,
    conn: Any,
    *,
    allow_unsafe_srs: bool,
    batch_size: int = 1,
    halo2_proof: Path | None = None,
) -> CircomRun:
    """Every circom system's row of the frontier for a halo2 workspace (measured now, or read from its cache).

    Args:
        workspace: the halo2 workspace (the cache and ``circom/`` go there).
        onnx_path: the batch-1 model (:func:`circuit_source`).
        input_path: the run's input (ezkl ``input_data``), proved by each system.
        fidelity_path: the halo2 run's ``fidelity.json`` (held-out data and float outputs); None for a
            batch workspace, which measures no fidelity (its B copies are the batch-1 circuit, whose
            fidelity the batch-1 workspace reports): the rows' error is then 0, the halo2 batch circuit's
            outputs, exactly.
        conn: the run's chain.
        batch_size: B > 1: the batch circuit of ``onnx_path``.
        halo2_proof: the run's halo2 proof: its outputs must be the circuit's on its inputs.
    """
    from zkml.circom.prove import quantize_inputs
    from zkml.errors import ZkmlError
    from zkml.workspace import write_json_atomic

    circuit = load_or_compile(onnx_path, settings_path, Path(workspace) / CIRCOM_DIR, batch_size=batch_size)
    verdicts = {name: ptau_verdict(circuit, name) for name in SYSTEMS}
    # The halo2 proof is not keyed: its instances follow from the model, settings and input, which are.
    parts: dict[str, Any] = {
        name: sha256_file(path) for name, path in (("onnx", onnx_path), ("settings", settings_path), ("input", input_path))
    }
    parts["fidelity_data"] = json.loads(Path(fidelity_path).read_text())["data"] if fidelity_path is not None else None
    parts["exactness"] = "witness outputs and proof instances"  # measurements cached before these checks are made again
    key, cache = _cache_key(circuit, parts, verdicts), Path(workspace) / MEASUREMENTS_FILE
    if cache.is_file():
        data = json.loads(cache.read_text())
        if data.get("key") == key:
            log.info("circom measurements: reused %s", cache)
            reread = tuple(
                _row({**r, "note": f"cached from an earlier run ({r['note']})" if r["max_abs_error"] is not None else r["note"]})
                for r in data["rows"]
            )
            return CircomRun(reread, cached=True)
    fidelity, samples, disagreement = circom_fidelity(circuit, fidelity_path) if fidelity_path is not None else (0.0, 0, "")
    if not disagreement and halo2_proof is not None:
        disagreement = instances_disagreement(circuit, halo2_proof)
    if disagreement:  # not ezkl's function: its proofs would publish other predictions than halo2's for the same inputs
        reason = f"not measured: the circom circuit's outputs differ from ezkl's witness on {disagreement}"
        log.warning("circom: %s", reason)
        refused = tuple(BackendRow(name, None, None, None, None, "", reason) for name in SYSTEMS)
        write_json_atomic(cache, {"key": key, "samples": samples, "measured_at": time.time(), "rows": [r.as_dict() for r in refused]})
        return CircomRun(refused, cached=False)
    inputs = quantize_inputs(circuit, _flatten(json.loads(Path(input_path).read_text())["input_data"])[: circuit.graph.input_size])
    rows: list[BackendRow] = []
    failed = False
    for name in SYSTEMS:
        if verdicts[name]:
            rows.append(BackendRow(name, None, None, None, None, "", verdicts[name]))
            continue
        try:
            rows.append(measure_system(circuit, name, inputs, conn, fidelity=fidelity, allow_unsafe_srs=allow_unsafe_srs))
        except ZkmlError as exc:  # one system failing leaves the others (and halo2) to choose from
            log.warning("%s: not measured: %s", name, exc.message)
            rows.append(BackendRow(name, None, None, None, None, "", f"not measured: {exc.message}"))
            failed = True
    if not failed:  # a failure may be transient: measure again next run
        write_json_atomic(cache, {"key": key, "samples": samples, "measured_at": time.time(), "rows": [r.as_dict() for r in rows]})
    return CircomRun(tuple(rows), cached=False)


def _row(data: dict[str, Any]) -> BackendRow:
    fields = ("backend", "max_abs_error", "prove_s", "verify_gas", "key_bytes", "setup_trust", "note")
    return BackendRow(**{name: data[name] for name in fields})
