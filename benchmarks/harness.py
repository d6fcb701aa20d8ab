"""The zkml benchmark harness: every stage cold and warm against bare ezkl, plus the throughput targets.

One command produces every figure of the "fast and scalable proving" issue:

    .venv/bin/python -m benchmarks.harness                 # all circuits, all targets
    .venv/bin/python -m benchmarks.harness --quick         # smoke run (1 repeat, few inputs)
    .venv/bin/python -m benchmarks.harness path/to/model.onnx --circuits mlp_regressor
    make bench                     # the same, through the Makefile

Part 1, per target (each example circuit, and each ONNX given): every stage
run cold in a fresh process (``--repeats`` times), then warm (a second pass in
the same workspace, and a warm prover's witness/prove), and the same work as
bare ezkl calls in their own fresh process; min/median seconds, the
zkml/bare ratio, peak RSS of each process, and pk/vk/proof sizes.

Part 2, on one circuit (``--primary``): warm proving of N inputs vs bare
prove; two bare proves on two threads (does ezkl release the GIL?); a 2-worker
process pool vs two bare ezkl processes side by side; Ray vs local workers;
batch sizes 1/4/16: proof time and on-chain verify gas per prediction; the
proving device that ``--device`` selects.

Results: ``benchmarks/results/harness_stages.{json,md}`` and
``benchmarks/results/harness_targets.{json,md}`` (via benchmarks.common).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import CIRCUITS, write_results

REPO = Path(__file__).resolve().parent.parent
STAGES = ("export", "preflight", "calibrate", "compile", "srs", "keys", "witness", "prove", "verify")
# Stages that bare ezkl also performs (export/preflight/srs are zkml's own or shared).
COMPARABLE = ("calibrate", "compile", "keys", "witness", "prove", "verify")


# -- helpers that run in child processes ----------------------------------------------------


def _quiet_fd1() -> None:
    """Send fds 1 and 2 to /dev/null in a child: ezkl prints tables there; both sides pay the same."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _in_child(func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` in a fresh spawned process (cold imports, own peak RSS)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


def _load_target(target: str) -> Any:
    from zkml.config import config_for_onnx, load_config

    path = Path(target)
    if path.suffix == ".onnx":
        return config_for_onnx(path.resolve())
    return load_config(path if path.exists() else CIRCUITS / target)


def zkml_cold_run(target: str, workspace: str) -> dict[str, Any]:
    """Child: the whole pipeline cold in a fresh workspace, then warm, with a warm prover."""
    _quiet_fd1()
    t0 = time.perf_counter()
    from zkml.pipeline import Pipeline
    from zkml.proving.warm import ProverSpec, WarmProver
    from zkml.workspace import Workspace

    import_seconds = time.perf_counter() - t0
    config = _load_target(target)
    shutil.rmtree(workspace, ignore_errors=True)
    pipeline = Pipeline(config, Workspace(Path(workspace)))
    pipeline.preflight()
    pipeline.verify(pipeline.prove())
    cold = {t.stage: t.seconds for t in pipeline.timings}
    # Warm pass 1: a new Pipeline on the same workspace (every stage reused from the manifest).
    again = Pipeline(config, Workspace(Path(workspace)))
    again.preflight()
    again.verify(again.prove())
    warm = {t.stage: t.seconds for t in again.timings}
    # Warm pass 2: a warm prover proving the same input afresh (witness and prove really run).
    spec = ProverSpec.from_pipeline(again, device="cpu")
    prover = WarmProver(spec, Path(workspace) / "warm")
    sample = again.sample_input(again.export())
    result = prover.prove(sample)
    warm["witness"] = result.witness_seconds
    warm["prove"] = result.prove_seconds
    warm["verify"] = prover.verify(result.proof).seconds
    ws = Path(workspace)
    return {
        "cold": cold,
        "warm": warm,
        "import_seconds": import_seconds,
        "logrows": spec.circuit.settings.logrows,
        "pk_bytes": spec.keys.pk_path.stat().st_size,
        "vk_bytes": spec.keys.vk_path.stat().st_size,
        "proof_bytes": result.proof.size_bytes,
        "srs": str(spec.srs.path),
        "onnx": str(ws / "model.onnx"),
        "calibration": str(ws / "calibration.json"),
        "input": str(sample),
        "visibility": [
            spec.circuit.settings.input_visibility,
            spec.circuit.settings.output_visibility,
            spec.circuit.settings.param_visibility,
        ],
        "calibration_target": config.circuit.calibration_target,
        "lookup_safety_margin": config.circuit.lookup_safety_margin,
        "max_logrows": config.circuit.max_logrows,
        "scales": [config.circuit.input_scale] if config.circuit.input_scale is not None else None,
        "peak_rss_mb": _peak_rss_mb(),
    }


def bare_cold_run(facts: dict[str, Any], folder: str) -> dict[str, Any]:
    """Child: the same work as bare ezkl calls (no zkml wrapper, checks, hashing or manifest)."""
    _quiet_fd1()
    import asyncio  # noqa: F401  (ezkl's async functions are not used here)

    t0 = time.perf_counter()
    from zkml import _ezkl

    ezkl = _ezkl.module()
    import_seconds = time.perf_counter() - t0
    out = Path(folder)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    p = {
        name: str(out / name)
        for name in ("settings.json", "model.compiled", "pk.key", "vk.key", "witness.json", "proof.json", "proof2.json")
    }
    inp: str = facts["input"]
    vis_in, vis_out, vis_par = (str(v) for v in facts["visibility"])
    cold: dict[str, float] = {}
    warm: dict[str, float] = {}

    def timed(store: dict[str, float], stage: str, action: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = action()
        store[stage] = store.get(stage, 0.0) + time.perf_counter() - start
        return value

    args = ezkl.PyRunArgs()
    args.input_visibility, args.output_visibility, args.param_visibility = vis_in, vis_out, vis_par
    timed(cold, "calibrate", lambda: ezkl.gen_settings(facts["onnx"], p["settings.json"], py_run_args=args))
    timed(
        cold,
        "calibrate",
        lambda: ezkl.calibrate_settings(
            facts["calibration"],
            facts["onnx"],
            p["settings.json"],
            facts["calibration_target"],
            lookup_safety_margin=facts["lookup_safety_margin"],
            scales=facts["scales"],
            max_logrows=facts["max_logrows"],
        ),
    )
    timed(cold, "compile", lambda: ezkl.compile_circuit(facts["onnx"], p["model.compiled"], p["settings.json"]))
    timed(cold, "keys", lambda: ezkl.setup(p["model.compiled"], p["vk.key"], p["pk.key"], srs_path=facts["srs"]))
    timed(cold, "witness", lambda: ezkl.gen_witness(inp, p["model.compiled"], p["witness.json"]))
    timed(cold, "prove", lambda: ezkl.prove(p["witness.json"], p["model.compiled"], p["pk.key"], p["proof.json"], srs_path=facts["srs"]))
    timed(cold, "verify", lambda: ezkl.verify(p["proof.json"], p["settings.json"], p["vk.key"], srs_path=facts["srs"]))
    timed(warm, "witness", lambda: ezkl.gen_witness(inp, p["model.compiled"], p["witness.json"]))
    timed(warm, "prove", lambda: ezkl.prove(p["witness.json"], p["model.compiled"], p["pk.key"], p["proof2.json"], srs_path=facts["srs"]))
    timed(warm, "verify", lambda: ezkl.verify(p["proof2.json"], p["settings.json"], p["vk.key"], srs_path=facts["srs"]))
    logrows = json.loads(Path(p["settings.json"]).read_text())["run_args"]["logrows"]
    return {"cold": cold, "warm": warm, "import_seconds": import_seconds, "peak_rss_mb": _peak_rss_mb(), "logrows": logrows}


def bare_prove_many(compiled: str, pk: str, srs: str, inputs: list[str], folder: str) -> dict[str, Any]:
    """Child: witness + prove each input with bare ezkl, in one process (pk path per call, as ezkl requires)."""
    _quiet_fd1()
    from zkml import _ezkl

    ezkl = _ezkl.module()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    times = []
    start_all = time.perf_counter()
    for i, inp in enumerate(inputs):
        start = time.perf_counter()
        ezkl.gen_witness(inp, compiled, str(out / f"w{i}.json"))
        ezkl.prove(str(out / f"w{i}.json"), compiled, pk, str(out / f"p{i}.json"), srs_path=srs)
        times.append(time.perf_counter() - start)
    return {"per_proof": times, "wall": time.perf_counter() - start_all, "peak_rss_mb": _peak_rss_mb()}


def bare_threads(compiled: str, pk: str, srs: str, witness: str, folder: str, rayon_threads: int | None = None) -> dict[str, float]:
    """Child: two bare proves one after the other, then two on two threads.

    With ``rayon_threads=1`` each prove uses one core, so two threads can only
    overlap (ratio ≈ 0.5) if ezkl releases the GIL while proving.
    """
    _quiet_fd1()
    import threading

    if rayon_threads:
        os.environ["RAYON_NUM_THREADS"] = str(rayon_threads)  # before ezkl's thread pool starts

    from zkml import _ezkl

    ezkl = _ezkl.module()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> None:
        ezkl.prove(witness, compiled, pk, str(out / name), srs_path=srs)

    one("warmup.json")
    start = time.perf_counter()
    one("s1.json")
    one("s2.json")
    sequential = time.perf_counter() - start
    threads = [threading.Thread(target=one, args=(f"t{i}.json",)) for i in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"sequential_two": sequential, "threaded_two": time.perf_counter() - start}


def warm_interleaved(spec: Any, inputs: list[str], zk_folder: str, bare_folder: str) -> dict[str, Any]:
    """Child: a WarmProver and bare ezkl (witness + prove) take turns on each input, in one process.

    Interleaving (zkml first on even inputs, bare first on odd ones) exposes both
    sides to the same drift of a shared machine; measured in two processes one
    after the other, the drift showed up as a spurious 8-13 % "overhead".
    """
    _quiet_fd1()
    from zkml import _ezkl
    from zkml.proving.warm import WarmProver

    ezkl = _ezkl.module()
    start = time.perf_counter()
    prover = WarmProver(spec, Path(zk_folder))
    setup = time.perf_counter() - start
    bare_out = Path(bare_folder)
    bare_out.mkdir(parents=True, exist_ok=True)
    compiled, pk, srs = str(spec.circuit.path), str(spec.keys.pk_path), str(spec.srs.path)
    zk: list[float] = []
    bare: list[float] = []
    for i, inp in enumerate(inputs):
        for side in ("zkml", "bare") if i % 2 == 0 else ("bare", "zkml"):
            start = time.perf_counter()
            if side == "zkml":
                prover.prove(Path(inp), index=i)
                zk.append(time.perf_counter() - start)
            else:
                ezkl.gen_witness(inp, compiled, str(bare_out / f"w{i}.json"))
                ezkl.prove(str(bare_out / f"w{i}.json"), compiled, pk, str(bare_out / f"p{i}.json"), srs_path=srs)
                bare.append(time.perf_counter() - start)
    return {"setup": setup, "zkml": zk, "bare": bare, "peak_rss_mb": _peak_rss_mb()}


# -- statistics ----------------------------------------------------------------------------


def _stat(values: list[float]) -> tuple[float, float]:
    return (min(values), statistics.median(values)) if values else (float("nan"), float("nan"))


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:  # NaN
        return "—"
    return f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b or a != a or b != b:
        return "—"
    return f"{a / b:.3f}"


# -- part 1: stages -----------------------------------------------------------------------


def bench_stages(target: str, build: Path, repeats: int, log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of the stage table for one target, and the facts of its last zkml run."""
    name = Path(target).stem if target.endswith(".onnx") else Path(target).name
    zk_runs, bare_runs = [], []
    facts: dict[str, Any] = {}
    for repeat in range(repeats):
        log(f"{name}: zkml cold run {repeat + 1}/{repeats}")
        facts = _in_child(zkml_cold_run, target, str(build / "stages" / name))
        zk_runs.append(facts)
        log(f"{name}: bare ezkl run {repeat + 1}/{repeats}")
        bare_runs.append(_in_child(bare_cold_run, facts, str(build / "bare" / name)))
    rows = []
    for stage in (*STAGES, "total (comparable)"):
        row: dict[str, Any] = {"target": name, "stage": stage}
        for side, runs in (("zkml", zk_runs), ("bare", bare_runs)):
            for mode in ("cold", "warm"):
                if stage.startswith("total"):
                    values = [sum(run[mode].get(s, 0.0) for s in COMPARABLE if s in run[mode]) for run in runs]
                    if side == "bare" and mode == "warm":
                        values = [sum(run["warm"].values()) for run in runs]
                    if side == "zkml" and mode == "warm":
                        values = [sum(run["warm"].get(s, 0.0) for s in ("witness", "prove", "verify")) for run in runs]
                else:
                    values = [run[mode][stage] for run in runs if stage in run[mode]]
                lo, med = _stat(values)
                row[f"{side}_{mode}_min"] = _fmt(lo) if values else "—"
                row[f"{side}_{mode}_med"] = _fmt(med) if values else "—"
                row[f"_{side}_{mode}"] = med if values else None
        row["ratio_cold"] = _ratio(row["_zkml_cold"], row["_bare_cold"])
        row["ratio_warm"] = _ratio(row["_zkml_warm"], row["_bare_warm"])
        rows.append({k: v for k, v in row.items() if not k.startswith("_")})
    rows.append(
        {
            "target": name,
            "stage": "facts",
            "zkml_cold_min": f"logrows {facts.get('logrows')}",
            "zkml_cold_med": f"pk {facts.get('pk_bytes', 0):,} B",
            "zkml_warm_min": f"vk {facts.get('vk_bytes', 0):,} B",
            "zkml_warm_med": f"proof {facts.get('proof_bytes', 0):,} B",
            "bare_cold_min": f"RSS zkml {max(r['peak_rss_mb'] for r in zk_runs)} MB",
            "bare_cold_med": f"RSS bare {max(r['peak_rss_mb'] for r in bare_runs)} MB",
            "bare_warm_min": f"import zkml {_fmt(statistics.median(r['import_seconds'] for r in zk_runs), 2)} s",
            "bare_warm_med": f"import ezkl {_fmt(statistics.median(r['import_seconds'] for r in bare_runs), 2)} s",
            "ratio_cold": f"bare logrows {bare_runs[-1].get('logrows')}",
        }
    )
    facts = {**facts, "stage_rows": rows, "zk_runs": list(zk_runs), "bare_runs": list(bare_runs)}
    return rows, facts


# -- part 2: targets -------------------------------------------------------------------------


def _make_inputs(facts: dict[str, Any], count: int, folder: Path) -> list[str]:
    """``count`` inputs near the sample input (inside the calibrated range), one file each."""
    from zkml.data import generate_around, read_samples, write_samples
    from zkml.export import inspect_onnx

    model = inspect_onnx(Path(facts["onnx"]))
    base = read_samples(Path(facts["input"]), model.inputs)
    samples = generate_around(base, count, seed=7, spread=0.02)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"in{i:03d}.json"
        write_samples(path, samples.sample(i + 1))
        paths.append(str(path))
    return paths


def _spec_for(primary: str, build: Path, device: str) -> Any:
    from zkml.pipeline import Pipeline
    from zkml.proving.warm import ProverSpec
    from zkml.workspace import Workspace

    config = _load_target(primary)
    return ProverSpec.from_pipeline(Pipeline(config, Workspace(build / "stages" / config.name)), device=device)


def bench_targets(args: argparse.Namespace, facts: dict[str, Any], build: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Rows of the targets table (warm, threads, pool, Ray, batching, device, overhead)."""
    import subprocess

    from zkml.proving.device import select_device

    rows: list[dict[str, Any]] = []

    def add(target: str, measured: str, baseline: str, ratio: str, goal: str, note: str = "") -> None:
        rows.append({"target": target, "measured": measured, "baseline": baseline, "ratio": ratio, "goal": goal, "note": note})
        log(f"  {target}: {measured} vs {baseline} -> {ratio} (goal {goal})")

    # Overhead over bare ezkl, from part 1.
    stage_rows = {r["stage"]: r for r in facts["stage_rows"]}
    total = stage_rows["total (comparable)"]
    add(
        "zkml overhead, cold pipeline (calibrate..verify)",
        f"{total['zkml_cold_med']} s",
        f"{total['bare_cold_med']} s",
        total["ratio_cold"],
        "≤ 1.05",
        "zkml compile also measures fidelity on the holdout set; keys/witness/prove add hashing and checks",
    )
    prove_row = stage_rows["prove"]
    add(
        "zkml overhead, one cold prove",
        f"{prove_row['zkml_cold_med']} s",
        f"{prove_row['bare_cold_med']} s",
        prove_row["ratio_cold"],
        "≤ 1.05",
    )

    spec = _spec_for(args.primary, build, "cpu")
    inputs = _make_inputs(facts, args.warm_inputs, build / "inputs")
    log(f"warm: {len(inputs)} inputs, zkml WarmProver and bare ezkl taking turns in one process")
    warm = _in_child(warm_interleaved, spec, inputs, str(build / "warm"), str(build / "bare-warm"))
    zk_med, bare_med = statistics.median(warm["zkml"]), statistics.median(warm["bare"])
    add(
        f"warm proving, {len(inputs)} inputs, per proof (median)",
        f"{zk_med:.3f} s (min {min(warm['zkml']):.3f}; prover setup {warm['setup']:.3f} s once)",
        f"{bare_med:.3f} s (min {min(warm['bare']):.3f})",
        _ratio(zk_med, bare_med),
        "≤ 1.05",
        f"witness+prove each, zkml and bare interleaved per input; min ratio {_ratio(min(warm['zkml']), min(warm['bare']))}; "
        f"ezkl re-reads the {spec.keys.pk_path.stat().st_size / 1e6:.0f} MB pk and the SRS from disk on every prove "
        "(its API takes paths), on both sides",
    )
    start = time.perf_counter()
    with spec.keys.pk_path.open("rb") as handle:
        while handle.read(1 << 24):
            pass
    add("pk read from page cache (lower bound of ezkl's per-call key load)", f"{time.perf_counter() - start:.3f} s", "—", "—", "info")

    witness = str(build / "bare-warm" / "w0.json")
    for rayon in (None, 1):
        label = "ezkl's default thread pool" if rayon is None else "RAYON_NUM_THREADS=1"
        log(f"GIL: two bare proves sequential vs on two threads ({label})")
        gil = _in_child(
            bare_threads, str(spec.circuit.path), str(spec.keys.pk_path), str(spec.srs.path), witness, str(build / "gil"), rayon
        )
        ratio = gil["threaded_two"] / gil["sequential_two"]
        verdict = (
            "threads overlap: ezkl releases the GIL while proving"
            if ratio < 0.75
            else "no overlap: ezkl holds the GIL while proving"
            if rayon == 1
            else "no gain (ezkl's own threads already use the cores)"
        )
        add(
            f"two bare proves on two threads vs sequential ({label})",
            f"{gil['threaded_two']:.3f} s",
            f"{gil['sequential_two']:.3f} s",
            f"{ratio:.3f}",
            "info",
            f"{verdict}; zkml serialises ezkl calls per process anyway (fd capture), hence processes",
        )

    pool_inputs = inputs[: args.pool_inputs]
    workers = args.workers
    log(f"pool: {len(pool_inputs)} proofs on {workers} processes vs {workers} bare ezkl processes side by side")
    from zkml.proving.pool import ProverPool

    def run_pool() -> float:
        start = time.perf_counter()
        with ProverPool(spec, build / "pool", workers=workers) as pool:
            pool.prove_many([Path(p) for p in pool_inputs])
        return time.perf_counter() - start

    shares = [pool_inputs[i::workers] for i in range(workers)]
    script = (
        "import json,sys; sys.path.insert(0, {repo!r}); from benchmarks.harness import bare_prove_many; "
        "print(json.dumps(bare_prove_many({c!r}, {pk!r}, {srs!r}, {ins!r}, {out!r})), file=sys.stderr)"
    )

    def run_side_by_side() -> float:
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    script.format(
                        repo=str(REPO),
                        c=str(spec.circuit.path),
                        pk=str(spec.keys.pk_path),
                        srs=str(spec.srs.path),
                        ins=share,
                        out=str(build / f"side{i}"),
                    ),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, share in enumerate(shares)
        ]
        for proc in procs:
            proc.wait()
        return time.perf_counter() - start

    # Alternating rounds (pool, bare, bare, pool, ...) so drift of a shared machine hits both sides.
    pool_walls: list[float] = []
    side_walls: list[float] = []
    for round_index in range(args.pool_rounds):
        order = (run_pool, run_side_by_side) if round_index % 2 == 0 else (run_side_by_side, run_pool)
        for run in order:
            (pool_walls if run is run_pool else side_walls).append(run())
    # Each round's pool and bare runs are minutes apart at most: the per-round ratio cancels the
    # slow drift of a shared machine that a ratio of overall figures would carry.
    round_ratios = [side / pool for pool, side in zip(pool_walls, side_walls, strict=True)]
    pool_wall, side_wall = statistics.median(pool_walls), statistics.median(side_walls)
    pool_tput, side_tput = len(pool_inputs) / pool_wall, len(pool_inputs) / side_wall
    add(
        f"{workers}-worker pool throughput ({len(pool_inputs)} proofs)",
        f"{pool_tput:.3f} proofs/s (median {pool_wall:.1f} s)",
        f"{side_tput:.3f} proofs/s (median {side_wall:.1f} s, {workers} bare processes)",
        f"{statistics.median(round_ratios):.3f}",
        "≥ 0.95",
        f"ratio = median over {args.pool_rounds} alternating rounds of (bare wall / pool wall): "
        f"{', '.join(f'{r:.3f}' for r in round_ratios)}; pool walls {', '.join(f'{w:.1f}' for w in pool_walls)} s, "
        f"bare {', '.join(f'{w:.1f}' for w in side_walls)} s; both include process start and ezkl import",
    )

    if not args.no_ray:
        try:
            import ray
        except ImportError:
            add("Ray throughput", "ray not installed", "—", "—", "—")
        else:
            from zkml.proving.ray_cluster import RayProver

            # Scaling over local Ray workers: 1 worker, then `workers`. Each count proves the inputs
            # twice; the first batch pays for starting workers and shipping artifacts, the second is
            # the steady state a long-running cluster sees.
            steady: dict[int, float] = {}
            for count in sorted({1, workers}):
                log(f"ray: local Ray with {count} CPU(s), {len(pool_inputs)} proofs x 2")
                start = time.perf_counter()
                ray.init(num_cpus=count, include_dashboard=False, log_to_driver=False)
                ray_start = time.perf_counter() - start
                try:
                    with RayProver(spec, build / f"ray{count}", worker_cache=str(build / "ray-cache")) as prover:
                        start = time.perf_counter()
                        prover.prove_many([Path(p) for p in pool_inputs])
                        first = time.perf_counter() - start
                        start = time.perf_counter()
                        prover.prove_many([Path(p) for p in pool_inputs])
                        second = time.perf_counter() - start
                finally:
                    ray.shutdown()
                    _wait_for_ray_exit()
                steady[count] = len(pool_inputs) / second
                add(
                    f"Ray ({count} local worker{'s' if count > 1 else ''}) throughput, first batch (starts workers, ships artifacts)",
                    f"{len(pool_inputs) / first:.3f} proofs/s ({first:.1f} s)",
                    f"{pool_tput:.3f} proofs/s ({workers}-worker pool)",
                    _ratio(len(pool_inputs) / first, pool_tput),
                    "info",
                    f"ray.init took {ray_start:.1f} s (not included)",
                )
                add(
                    f"Ray ({count} local worker{'s' if count > 1 else ''}) throughput, second batch (warm workers)",
                    f"{steady[count]:.3f} proofs/s ({second:.1f} s)",
                    f"{pool_tput:.3f} proofs/s ({workers}-worker pool)",
                    _ratio(steady[count], pool_tput),
                    "info",
                    "",
                )
            if len(steady) == 2:
                add(
                    f"Ray scaling, {workers} local workers vs 1 (warm)",
                    f"{steady[workers]:.3f} proofs/s",
                    f"{steady[1]:.3f} proofs/s",
                    _ratio(steady[workers], steady[1]),
                    f"≈ {workers}-core limit",
                    "one host: bounded by its cores (one proof already uses both part of the time); "
                    "each added host adds its own cores, see benchmarks/README.md",
                )

    if args.batch_sizes:
        rows.extend(bench_batches(args, build, log, add))

    choice = select_device(args.device)
    add("proving device", choice.used, f"requested {choice.requested}", "—", "info", choice.reason)
    return rows


def bench_batches(args: argparse.Namespace, build: Path, log: Callable[[str], None], add: Callable[..., None]) -> list[dict[str, Any]]:
    """Proof time, on-chain verify gas and oracle submit gas per prediction for each batch size."""
    from zkml import oracle as orc
    from zkml.data import read_samples
    from zkml.errors import AnvilError, ZkmlError
    from zkml.evm.anvil import find_anvil, local_anvil
    from zkml.evm.onchain import verify_onchain
    from zkml.evm.rpc import connect
    from zkml.oracle.binding import check_verifier, quantized_bounds
    from zkml.proving.batch import build_batched, deploy_batch_verifier, write_batch_input
    from zkml.proving.warm import WarmProver

    config = _load_target(args.primary)
    try:
        find_anvil()
        have_anvil = True
    except AnvilError:
        have_anvil = False
    gas_per_prediction: dict[str, dict[int, int]] = {}
    with local_anvil() if have_anvil else _null() as node:
        conn = connect(node.url) if node is not None else None
        oracle = orc.deploy_oracle(conn, build / "batch") if conn is not None else None
        for size in args.batch_sizes:
            log(f"batch {size}: build, prove, verify on-chain")
            folder = build / "batch" / f"b{size}"
            batched = build_batched(config, size, folder, device="cpu")
            samples = read_samples(config.calibration or config.input, batched.model.inputs)
            batch_input = write_batch_input(samples, size, folder / "input.json")
            prover = WarmProver(batched.spec, folder / "proofs")
            result = prover.prove(batch_input)
            ok = prover.verify(result.proof).verified
            gas_text = []
            if conn is not None:
                for kind in ("plain", "reusable"):
                    try:
                        deployed = deploy_batch_verifier(conn, batched.spec, folder, kind=kind)
                    except ZkmlError as exc:
                        gas_text.append(f"{kind}: not deployable ({type(exc).__name__})")
                        continue
                    onchain = verify_onchain(conn, deployed.address, result.proof.path, vka=deployed.vka, send=True)
                    if onchain.accepted and onchain.gas_used:
                        gas_per_prediction.setdefault(f"{kind} verifier", {})[size] = onchain.gas_used // size
                        gas_text.append(
                            f"{kind} {onchain.gas_used:,} ({onchain.gas_used // size:,}/prediction, code {deployed.runtime_bytes:,} B)"
                        )
                    else:
                        gas_text.append(f"{kind}: rejected ({onchain.reason})")
                        continue
                    if kind == "plain" and oracle is not None:
                        # The same proof through the oracle: one verification, `size` stored predictions. The inputs
                        # are calibration samples, not a feed's windows, so the model is registered unattested (the
                        # attested flow, with a feed and a feature source, is measured by benchmarks/oracle_gas.py).
                        model = orc.workspace_model(folder)
                        spec = batched.spec
                        bounds = quantized_bounds(
                            spec.input_ranges or (), spec.range_margin, model.spec.input_scale, model.spec.sample_width
                        )
                        codehash = check_verifier(conn, deployed.address, folder).codehash
                        reg = orc.register_model(
                            conn, oracle.address, model.model_id, deployed.address, model.spec, bounds=bounds, codehash=codehash
                        )
                        published = orc.publish(conn, oracle.address, reg.model_id, result.proof.path, on_replay="read")
                        if published.gas_used:
                            gas_per_prediction.setdefault("oracle submit", {})[size] = published.gas_used // size
                            gas_text.append(
                                f"oracle submit, unattested {published.gas_used:,} ({published.gas_used // size:,}/prediction, "
                                f"{len(published.batch)} predictions stored)"
                            )
            add(
                f"batch B={size}: prove time per prediction; verify gas",
                f"{result.prove_seconds / size:.3f} s ({result.prove_seconds:.2f} s per proof, logrows {batched.spec.circuit.settings.logrows})",
                "; ".join(gas_text) or "gas: no anvil",
                "—",
                "info",
                f"verified locally: {ok}; proof {result.proof.size_bytes:,} B; pk {batched.spec.keys.pk_path.stat().st_size / 1e6:.0f} MB; "
                f"keys {batched.seconds.get('keys', 0):.1f} s",
            )
    for kind, table in gas_per_prediction.items():
        sizes = sorted(table)
        if len(sizes) >= 2:
            small, large = table[sizes[0]], table[sizes[-1]]
            oracle_row = kind == "oracle submit"
            add(
                f"{'oracle submit' if oracle_row else 'verify'} gas per prediction ({'unattested, plain verifier + storage' if oracle_row else kind}), "
                f"B={sizes[-1]} vs B={sizes[0]}",
                f"{large:,}",
                f"{small:,}",
                _ratio(large, small),
                "info" if oracle_row else "≤ 0.125",
            )
    return []


def _wait_for_ray_exit(timeout: float = 60.0) -> None:
    """Wait until a local Ray's processes are gone: a dying raylet/GCS still takes CPU from the next run."""
    import subprocess

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", "raylet|gcs_server|ray::"], capture_output=True, check=False).stdout.strip()
        if not found:
            return
        time.sleep(0.5)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- main ------------------------------------------------------------------------------------


def _default_circuits() -> list[str]:
    return sorted(p.name for p in CIRCUITS.iterdir() if (p / "zkml.toml").is_file())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.harness", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("onnx", nargs="*", help="extra ONNX models to benchmark (stage table only)")
    parser.add_argument("--circuits", default=None, help="comma-separated example circuits (default: all; 'none' for only the ONNX given)")
    parser.add_argument("--primary", default="mlp_regressor", help="circuit for the throughput/batching targets")
    parser.add_argument("--repeats", type=int, default=3, help="cold runs per target (min/median)")
    parser.add_argument("--warm-inputs", type=int, default=20, help="inputs for the warm-proving target")
    parser.add_argument("--pool-inputs", type=int, default=8, help="inputs for the pool/Ray throughput targets")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-rounds", type=int, default=4, help="alternating rounds of pool vs bare processes (median ratio)")
    parser.add_argument("--batch-sizes", default="1,4,16", help="comma-separated; '' to skip")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-targets", action="store_true", help="only the stage table")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--name", default="harness", help="results/<name>_stages.*, results/<name>_targets.*")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 repeat, primary circuit only, 3 warm inputs, 2 pool inputs, B=1,2"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warm_inputs, args.pool_inputs, args.pool_rounds = 1, 3, 2, 1
        args.circuits = args.circuits or args.primary
        args.batch_sizes = "1,2" if args.batch_sizes == "1,4,16" else args.batch_sizes
        args.name = args.name if args.name != "harness" else "harness_quick"
    args.batch_sizes = [int(x) for x in str(args.batch_sizes).split(",") if x.strip()]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    build: Path = args.build_dir.resolve()
    build.mkdir(parents=True, exist_ok=True)
    # A private cache (SRS, Ray artifacts) so the numbers do not depend on the user's.
    os.environ.setdefault("ZKML_CACHE_DIR", str(build / "cache"))
    circuits = _default_circuits() if args.circuits is None else [c for c in args.circuits.split(",") if c and c != "none"]
    targets = circuits + [str(Path(p).resolve()) for p in args.onnx]

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    stage_rows: list[dict[str, Any]] = []
    primary_facts: dict[str, Any] | None = None
    raw: dict[str, Any] = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "targets": {}}
    for target in targets:
        rows, facts = bench_stages(target, build, args.repeats, log)
        stage_rows.extend(rows)
        raw["targets"][target] = {"zkml": facts["zk_runs"], "bare": facts["bare_runs"]}
        if Path(target).name == args.primary:
            primary_facts = facts
    columns = [
        ("target", "target"),
        ("stage", "stage"),
        ("zkml_cold_min", "zkml cold min"),
        ("zkml_cold_med", "zkml cold med"),
        ("bare_cold_min", "bare cold min"),
        ("bare_cold_med", "bare cold med"),
        ("ratio_cold", "ratio cold"),
        ("zkml_warm_min", "zkml warm min"),
        ("zkml_warm_med", "zkml warm med"),
        ("bare_warm_min", "bare warm min"),
        ("bare_warm_med", "bare warm med"),
        ("ratio_warm", "ratio warm"),
    ]
    notes = (
        f"Seconds; min and median of {args.repeats} cold runs, each in a fresh process. Cold zkml = a fresh workspace; "
        "warm zkml = a second Pipeline on the same workspace (stages reused from the manifest) and, for witness/prove/verify, "
        "a WarmProver doing them afresh; bare = the same ezkl calls without zkml (warm = a second call in the same process). "
        "export/preflight are zkml-only; both sides use the same SRS file (the first cold run of the first target generates it, "
        "later ones only check its hash). "
        "ratio = zkml median / bare median."
    )
    write_results(f"{args.name}_stages", stage_rows, columns, "zkml vs bare ezkl, every stage", notes)
    if not args.no_targets and primary_facts is not None:
        target_rows = bench_targets(args, primary_facts, build, log)
        write_results(
            f"{args.name}_targets",
            target_rows,
            [("target", "target"), ("measured", "zkml"), ("baseline", "baseline"), ("ratio", "ratio"), ("goal", "goal"), ("note", "note")],
            f"Proving throughput targets ({args.primary})",
            "Measured, not asserted. A ratio is zkml / baseline (time) or zkml / baseline (throughput), as labelled.",
        )
        raw["target_rows"] = target_rows
    raw["seconds"] = round(time.perf_counter() - started, 1)
    (Path(__file__).resolve().parent / "results" / f"{args.name}_raw.json").write_text(json.dumps(raw, indent=2, default=str) + "\n")
    log(f"done in {raw['seconds']} s: benchmarks/results/{args.name}_stages.md, {args.name}_targets.md")


if __name__ == "__main__":
    main()
