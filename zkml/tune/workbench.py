"""Measuring tuner candidates: the state one tuning run shares across them.

Work is shared: the ONNX model is exported once (through the pipeline's
manifest), candidates that end up with identical settings share one compiled
circuit and one fidelity run, and there is one SRS per ``logrows``
(:func:`zkml.srs.resolve_srs`'s cache). Each candidate gets a folder under the
workspace's ``tune/``, named after its knobs and the model.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import CalibrationError, CircuitError, ConfigError, InputDataError, SrsError, ZkmlError
from zkml.tune.budget import Budget
from zkml.tune.candidates import Candidate, Knobs, TuneResult
from zkml.tune.measure import discard_proving_files, measure_proving
from zkml.workspace import Layout

if TYPE_CHECKING:
    from zkml.artifacts import CompiledCircuit, Fidelity, OnnxModel, Settings
    from zkml.config import CircuitConfig
    from zkml.data import Samples
    from zkml.evm.rpc import Connection
    from zkml.workspace import Workspace

log = logging.getLogger(__name__)

Rows = list[list[float]]
# A bare ONNX has no held-out data: this many samples are generated around its input.
GENERATED_HOLDOUT = 64
GENERATED_SEED = 7919


@dataclass(frozen=True)
class Prepared:
    """The exported, preflighted model a tuning run measures, and the sample input it proves.

    Made by the pipeline's export stage: :func:`zkml.tune.run.prepare` for
    ``zkml tune``, or the pipeline itself when it tunes for a ``[budget]`` or
    searches after a failed calibration (this module never imports the
    pipeline, which imports it).
    """

    model: OnnxModel
    input_path: Path


@dataclass(frozen=True)
class _Measured:
    """One compiled settings file and what it measured, shared by every candidate that calibrated to it."""

    compiled_path: str
    fidelity: Fidelity
    float_rows: Rows
    circuit_rows: Rows


class Workbench:
    """State shared across the candidates of one tuning run (model, data, compiled circuits).

    Attributes:
        candidates: every candidate evaluated, in order.
    """

    def __init__(
        self,
        config: CircuitConfig,
        workspace: Workspace,
        budget: Budget,
        samples: int,
        *,
        repeats: int = 1,
        prepared: Prepared | None = None,
    ) -> None:
        self.config = config
        self.prepared = prepared
        self.repeats = repeats
        self.ws = workspace
        self.budget = budget
        self.samples_limit = samples
        self.dir = workspace.tune_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.candidates: list[Candidate] = []
        # A chain to measure finalists' verifiers on (set by tune(onchain=True)).
        self.conn: Connection | None = None
        self._by_knobs: dict[Knobs, Candidate] = {}
        self._by_settings: dict[str, _Measured] = {}
        self._rows: dict[int, _Measured] = {}

    def prepare(self) -> None:
        """Take the prepared model, and read (or generate) the calibration and held-out data.

        Raises:
            ConfigError: a configured held-out file is missing, or nothing was prepared.
        """
        from zkml.data import generate_around, read_samples, write_samples

        cfg = self.config
        if cfg.holdout is not None and not cfg.holdout.is_file():
            raise ConfigError(f"held-out data {cfg.holdout} does not exist", hint="fix [data] holdout in zkml.toml")
        if self.prepared is None:
            raise ConfigError(
                "the tuner needs the exported model", hint="call zkml.tune.tune with the circuit's Pipeline, which exports it"
            )
        self.model = self.prepared.model
        self.input_path = self.prepared.input_path
        base = read_samples(self.input_path, self.model.inputs)
        if cfg.calibration is not None:
            self.calibration_path = cfg.calibration
        else:
            self.calibration_path = Layout(self.dir).calibration
            write_samples(self.calibration_path, generate_around(base, cfg.circuit.calibration_samples))
        if cfg.holdout is not None:
            self.holdout = read_samples(cfg.holdout, self.model.inputs)
            self.holdout_source = str(cfg.holdout)
        else:
            self.holdout = self._generated_holdout(base)
            log.warning("no [data] holdout for %s: measuring fidelity on generated data (%s)", cfg.name, self.holdout_source)

    def _generated_holdout(self, base: Samples) -> Samples:
        """Held-out samples made around the sample input, with another seed than calibration's (for a bare ONNX).

        They are what the budget is measured on, so the report marks them as
        generated: a budget met on them says nothing about the model's real inputs.
        """
        from zkml.data import generate_around, write_samples

        samples = generate_around(base, GENERATED_HOLDOUT, seed=GENERATED_SEED)
        path = self.dir / "generated_holdout.json"
        write_samples(path, samples)
        self.holdout_source = f"generated: {GENERATED_HOLDOUT} samples around {self.input_path.name} ({path})"
        return samples

    def evaluate(self, knobs: Knobs, role: str = "search") -> Candidate:
        """The candidate of ``knobs``: calibrated, compiled and measured on held-out data (once).

        A candidate that fails (calibration finds nothing, the witness overflows)
        is returned with ``error`` set rather than raised: the search goes on.
        """
        if knobs in self._by_knobs:
            return self._by_knobs[knobs]
        cand = Candidate(knobs=knobs, role=role)
        self._by_knobs[knobs] = cand
        self.candidates.append(cand)
        try:
            self._measure(cand)
        except (CalibrationError, CircuitError, InputDataError) as exc:
            cand.error = exc.message
            cand.budget_note = "failed: " + exc.message
            log.info("candidate %s failed: %s", knobs.label(), exc)
        return cand

    def _measure(self, cand: Candidate) -> None:
        from zkml.circuit import compile_circuit
        from zkml.fidelity import measure_fidelity
        from zkml.workspace import fingerprint

        work = Layout(self.dir / fingerprint({"knobs": asdict(cand.knobs), "model": self.model.sha256})[:16])
        settings = self._calibrate(cand.knobs, work.settings)
        cand.take_settings(settings)
        measured = self._by_settings.get(settings.sha256)
        if measured is None:
            compiled = compile_circuit(self.model, settings, work.compiled)
            if cand.role == "baseline" and self.config.holdout is None:
                self._keep_runnable_holdout(compiled)
            fidelity, floats, circuit_rows = measure_fidelity(
                self.model, compiled, self.holdout, classifier=self.config.task == "classification", limit=self.samples_limit
            )
            measured = self._by_settings[settings.sha256] = _Measured(str(compiled.path), fidelity, floats, circuit_rows)
        # Different knobs, same settings (calibration moved them): same circuit, same numbers.
        cand.compiled_path = measured.compiled_path
        cand.fidelity = measured.fidelity
        self._rows[id(cand)] = measured
        cand.meets_budget, cand.budget_note = self.budget.check(measured.fidelity)

    def _keep_runnable_holdout(self, baseline: CompiledCircuit) -> None:
        """Leave out the generated held-out samples ezkl's default circuit cannot run (outside its calibrated range).

        Generated samples are jittered copies of one input: for a model with
        discrete jumps (a tree ensemble taking another branch) a few land past
        the range calibration covered, and measuring the default on them would
        fail the whole search. They are not real data, so they are dropped and
        counted (in ``holdout_source`` and the report) rather than failing.
        Configured held-out data is never filtered.
        """
        from zkml.circuit import generate_witness
        from zkml.data import Samples, write_samples

        keep = []
        scratch = self.dir / "holdout_check"
        scratch.mkdir(parents=True, exist_ok=True)
        for index in range(min(self.holdout.count, self.samples_limit)):
            path = scratch / f"in{index}.json"
            write_samples(path, self.holdout.sample(index))
            try:
                generate_witness(baseline, path, scratch / "witness.json")
            except InputDataError:
                continue
            keep.append(index)
        dropped = min(self.holdout.count, self.samples_limit) - len(keep)
        if dropped and keep:
            self.holdout = Samples(tuple(array[keep] for array in self.holdout.arrays))
            self.holdout_source += f"; {dropped} outside the default calibration's range left out"
            log.warning("%d generated held-out samples fall outside the default calibration's range: left out", dropped)

    def _calibrate(self, knobs: Knobs, settings_path: Path) -> Settings:
        from zkml.calibrate import calibrate

        # Every knob is a [circuit] setting of the same name. Target "resources"
        # and no pinned logrows: calibration sizes the circuit for these knobs.
        circuit = replace(self.config.circuit, calibration_target="resources", logrows=None, **asdict(knobs))
        return calibrate(self.model, self.calibration_path, settings_path, circuit)

    def mock(self, cand: Candidate, count: int = 8) -> bool:
        """Check every constraint (ezkl ``mock``) on the sample input and the most extreme held-out samples.

        Witnesses are computed without checking constraints, so a decomposition
        that does not cover a value can still give plausible outputs; ``mock``
        catches that in milliseconds, before any key is made.
        """
        if cand.mock_ok is not None:
            return cand.mock_ok
        cand.mock_ok = True
        for path in self._mock_inputs(Path(cand.compiled_path).parent, count):
            reason = _mock_failure(path, Path(cand.compiled_path))
            if reason is not None:
                cand.mock_ok = False
                cand.error = f"constraints not satisfied on {path.name}: {reason}"
                log.info("candidate %s fails mock: %s", cand.label, reason)
                break
        return cand.mock_ok

    def _mock_inputs(self, work: Path, count: int) -> list[Path]:
        """The sample input, then the ``count`` held-out samples of largest magnitude (written to ``work``)."""
        import numpy as np

        from zkml.data import write_samples

        flat = np.concatenate([a.reshape(a.shape[0], -1) for a in self.holdout.arrays], axis=1)
        paths = [self.input_path]
        for index in np.argsort(-np.abs(flat).max(axis=1))[:count]:
            path = work / f"mock_in{int(index)}.json"
            write_samples(path, self.holdout.sample(int(index)))
            paths.append(path)
        return paths

    def prove(self, cand: Candidate, conn: Connection | None = None) -> None:
        """Real setup + prove + verify of ``cand`` on the sample input, each step in a child process.

        With a chain ``conn``, the verified proof is also checked by the
        candidate's own Solidity verifier there: verifier size and verify gas.
        """
        from zkml.srs import resolve_srs

        assert cand.logrows is not None
        try:
            srs = resolve_srs(cand.logrows)
        except SrsError as exc:
            cand.error = exc.message
            return
        work = Path(cand.compiled_path).parent
        try:
            measured = measure_proving(
                Path(cand.compiled_path), Path(cand.settings_path), srs.path, self.input_path, work, repeats=self.repeats
            )
        except ZkmlError as exc:
            cand.error = f"proving failed: {exc.message}"
            cand.verified = False
            log.warning("candidate %s did not prove: %s", cand.label, exc)
            return
        cand.setup_seconds = measured["setup_seconds"]
        cand.prove_seconds = measured["prove_seconds"]
        cand.verify_seconds = measured["verify_seconds"]
        cand.prove_peak_rss_bytes = measured["prove_peak_rss_bytes"]
        cand.setup_peak_rss_bytes = measured.get("setup_peak_rss_bytes")
        cand.pk_bytes = measured.get("pk_bytes")
        cand.verified = measured["verified"]
        if not cand.verified:
            cand.error = "the proof did not verify (the decomposition may not cover the values)"
        elif conn is not None:
            self._onchain(cand, srs.path, conn)
        discard_proving_files(work)

    def _onchain(self, cand: Candidate, srs: Path, conn: Connection) -> None:
        """Verifier size and verify gas of a proved candidate (a failure is noted, not raised)."""
        from zkml.tune.onchain import measure_onchain

        try:
            cost = measure_onchain(Path(cand.compiled_path).parent, Path(cand.settings_path), srs, conn)
        except ZkmlError as exc:
            log.warning("on-chain measurement of %s failed: %s", cand.label, exc)
            cand.budget_note = (cand.budget_note + "; " if cand.budget_note else "") + f"on-chain not measured: {exc.message}"
            return
        cand.verifier_runtime_bytes, cand.over_eip170, cand.verify_gas = cost.runtime_bytes, cost.over_eip170, cost.verify_gas

    def write_outputs(self, result: TuneResult) -> None:
        """Write ``tune_candidates.json``, ``tune_fidelity.json`` and (when one was chosen) ``tuned.json``."""
        from zkml.workspace import write_json_atomic

        write_json_atomic(self.ws.tune_candidates, result.as_dict())
        result.files["candidates"] = str(self.ws.tune_candidates)
        shown = result.chosen or result.best
        if shown is not None and id(shown) in self._rows:
            write_json_atomic(self.ws.tune_fidelity, self._fidelity_file(shown))
            result.files["fidelity"] = str(self.ws.tune_fidelity)
        if result.chosen is not None:
            write_json_atomic(self.ws.tuned, self._tuned_file(result, result.chosen))
            result.files["tuned"] = str(self.ws.tuned)

    def _fidelity_file(self, cand: Candidate) -> dict[str, Any]:
        """``tune_fidelity.json``: the pipeline's ``fidelity.json`` schema, plus the candidate's label."""
        measured = self._rows[id(cand)]
        fid = measured.fidelity
        targets = self.holdout.targets
        return {
            **fid.as_dict(),
            "data": self.holdout_source,
            "holdout_generated": self.config.holdout is None,
            "label": cand.label,
            "float_outputs": measured.float_rows,
            "circuit_outputs": measured.circuit_rows,
            "targets": list(targets[: fid.samples]) if targets else None,
        }

    def _tuned_file(self, result: TuneResult, chosen: Candidate) -> dict[str, Any]:
        """``tuned.json``: what :mod:`zkml.tune.pinned` pins, and the numbers behind the choice."""
        from zkml import _ezkl
        from zkml.tune.pinned import graph_fingerprint, model_fingerprint

        return {
            "version": 1,
            "circuit": chosen.pinned(),
            "budget": result.budget.as_dict(),
            "fidelity": chosen.fidelity.as_dict() if chosen.fidelity else None,
            "prove_seconds": chosen.prove_seconds,
            "prove_peak_rss_bytes": chosen.prove_peak_rss_bytes,
            "settings_sha256": chosen.settings_sha256,
            "model_sha256": self.model.sha256,
            "model_fingerprint": model_fingerprint(self.model.path),
            "graph_fingerprint": graph_fingerprint(self.model.path),
            "holdout": self.holdout_source,
            "holdout_generated": self.config.holdout is None,
            "baseline": {
                "logrows": result.baseline.logrows,
                "input_scale": result.baseline.input_scale,
                "prove_seconds": result.baseline.prove_seconds,
            },
            "ezkl": _ezkl.version(),
        }


def _mock_failure(input_path: Path, compiled: Path) -> str | None:
    """Why ezkl's ``mock`` rejects the witness of ``input_path``, or None when every constraint holds."""
    from zkml import _ezkl

    witness = compiled.parent / "mock_witness.json"
    try:
        _ezkl.call("gen_witness", str(input_path), str(compiled), str(witness))
        ok = _ezkl.call("mock", str(witness), str(compiled))
    except _ezkl.EzklFailure as exc:
        return str(exc)
    return "mock returned false" if ok is False else None


__all__ = ["Prepared", "Workbench"]
