"""The whole flow for one circuit, with a manifest-backed cache.

:class:`Pipeline` composes the stage functions; it owns nothing but the order
and the fingerprints that decide whether a stage's recorded outputs are still
current (file names belong to :class:`zkml.workspace.Layout`). Each stage method can also run alone (the
CLI's per-stage commands use them), pulling what it needs from earlier stages,
which are then reused from the manifest when current.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml import _ezkl
from zkml.artifacts import (
    CompiledCircuit,
    Fidelity,
    Keys,
    OnnxModel,
    OpReport,
    Proof,
    RunSummary,
    Settings,
    Srs,
    StageTiming,
    VerifyResult,
    Witness,
    sha256_file,
)
from zkml.config import CircuitConfig
from zkml.data import Samples, read_prove_input
from zkml.errors import ConfigError, InputDataError
from zkml.evm.stages import EvmStages
from zkml.stage_runner import ProgressCallback, ProgressEvent, StageRunner

if TYPE_CHECKING:
    from zkml.proving.batch import PreparedBatch

log = logging.getLogger(__name__)

STAGES = ("export", "preflight", "calibrate", "compile", "srs", "keys", "witness", "prove", "verify")
EVM_STAGES = ("verifier", "deploy", "verify_onchain")


def tool_versions() -> dict[str, str]:
    """Versions of the tools whose behaviour the artifacts depend on."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "ezkl": _ezkl.version()}
    for dist in ("zkml", "onnx", "onnxruntime", "torch", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return versions


class Pipeline(EvmStages):
    """Runs a circuit's stages in a workspace, reusing what the manifest proves current.

    The EVM stages (verifier, VKA, deploy, on-chain verification) come from
    :class:`zkml.evm.stages.EvmStages`; the flow ends there. `zkml run`'s
    composition, and the DeFi demo on top of it, are in :mod:`zkml.flow`.
    """

    def __init__(
        self,
        config: CircuitConfig,
        workspace: Any,
        *,
        progress: ProgressCallback | None = None,
        allow_dev_srs: bool = True,
        input_path: Path | None = None,
        batch_size: int = 1,
    ) -> None:
        from zkml.workspace import Workspace

        if batch_size < 1:
            raise ConfigError(f"batch size {batch_size}: a circuit proves 1 or more samples per proof", hint="give --batch-size 1 or more")
        self.config = config
        self.batch_size = batch_size  # > 1: the graph unrolled B times, built as prove-many does (zkml.proving.batch)
        self.ws: Workspace = workspace
        self.runner = StageRunner(self.ws, progress)
        self.allow_dev_srs = allow_dev_srs
        self.input_path = Path(input_path) if input_path else config.input
        # Claimed first (another model's workspace is refused untouched); also finds the circuit from the folder alone.
        source = {
            "toml": str(config.source) if config.source else None,
            "onnx": str(config.onnx) if config.onnx and not config.source else None,
            "factory": config.factory if config.factory and not config.source else None,
        }
        self.ws.claim({"name": config.name, "root": str(config.root), "task": config.task, **source})
        self._versions = tool_versions()
        self.ws.set_info("tools", self._versions)
        if batch_size > 1:
            self.ws.set_info("batch", {"batch_size": batch_size})

    @property
    def progress(self) -> ProgressCallback:
        return self.runner.progress

    @property
    def timings(self) -> list[StageTiming]:
        """Every stage timed in this run, in order."""
        return self.runner.timings

    # -- stages ----------------------------------------------------------------------------

    def export(self) -> OnnxModel:
        """Export the model (or take the given ONNX) and keep float reference outputs (a batched model: none)."""
        if self.batch_size > 1:
            return self._batched().model
        return self.runner.memo("export", self._export)  # type: ignore[no-any-return]

    def _export(self) -> OnnxModel:
        from zkml.export import reference_outputs

        model = self.runner.memo("onnx", self._export_model)
        # The float reference on the sample input: cheap, so recomputed (once that input passed every check).
        return reference_outputs(model, self._checked_input(self.sample_input(model), model), self.ws.reference)

    def _export_model(self) -> OnnxModel:  # the export stage alone: nothing derived from the input
        from zkml.export import export_fingerprint, export_model, inspect_onnx, load_callable, random_example

        if self.batch_size > 1:
            return self._batched().model
        cfg = self.config
        onnx_path = self.ws.onnx
        if cfg.onnx is not None and not cfg.onnx.is_file():
            from zkml.errors import ModelNotFoundError

            raise ModelNotFoundError(f"ONNX file {cfg.onnx} does not exist")
        parts = export_fingerprint(cfg, self._versions.get("torch"))

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            if cfg.onnx is not None:
                model = export_model(cfg.onnx, onnx_path)
            else:
                assert cfg.factory is not None
                built = load_callable(cfg.factory, cfg.root)()
                example = load_callable(cfg.example_input, cfg.root)() if cfg.example_input else random_example(cfg.input_shape)
                model = export_model(built, onnx_path, example_input=example)
            return {"model": onnx_path}, {
                "opset": model.opset,
                "inputs": [list(s.shape) for s in model.inputs],
                "outputs": [list(s.shape) for s in model.outputs],
            }

        self.runner.run_stage("export", parts, produce)
        return inspect_onnx(onnx_path)

    def _checked_input(self, source: Path, model: OnnxModel, *, one: bool = False) -> Samples:
        """``source`` checked whole (:func:`zkml.data.read_prove_input`), before anything derived from it is written."""
        margin = self.config.circuit.input_range_margin
        batched = self.batch_size > 1
        samples = read_prove_input(source, model.inputs, one=one and not batched, calibration=self.config.calibration, margin=margin)
        if one and batched and samples.count != self.batch_size:
            raise InputDataError(
                f"{source} holds {samples.count} samples; the batch-{self.batch_size} circuit proves {self.batch_size} per proof",
                hint=f"give {self.batch_size} samples (rows or one flat list), or prove single samples with --batch-size 1",
            )
        return samples

    def sample_input(self, model: OnnxModel) -> Path:
        """The input to prove: the configured one, or a seeded random sample for a bare ONNX (batched: a batch of them)."""
        if self.batch_size > 1:
            return self.runner.memo("example_batch", lambda: self._example_batch(model))
        if self.input_path is not None:
            if not self.input_path.is_file():
                raise InputDataError(f"input file {self.input_path} does not exist")
            return self.input_path
        import numpy as np

        from zkml.data import Samples, write_samples

        generated = self.ws.generated_input
        if not generated.exists():
            rng = np.random.default_rng(0)
            log.warning("no input given; proving a seeded random sample (%s)", generated)
            write_samples(generated, Samples(tuple(rng.normal(size=(1, *spec.shape[1:])) for spec in model.inputs)))
        return generated

    def preflight(self) -> OpReport:
        """Check every op before circuit work."""
        from zkml.preflight import preflight

        model = self.export()
        return self.runner.memo("preflight", lambda: self.runner.timed("preflight", lambda: preflight(model)))  # type: ignore[no-any-return]

    def calibrate(self) -> Settings:
        """Generate and calibrate settings (reused while model, data and config are unchanged)."""
        if self.batch_size > 1:
            return self._batched().circuit.settings
        return self.runner.memo("calibrate", self._calibrate)  # type: ignore[no-any-return]

    def _calibration_data(self, model: OnnxModel) -> Path:
        from zkml.data import generate_around, read_samples

        cfg = self.config
        target = self.ws.calibration
        if cfg.calibration is not None:
            samples = read_samples(cfg.calibration, model.inputs)
        else:
            base = read_samples(self.sample_input(model), model.inputs)
            samples = generate_around(base, cfg.circuit.calibration_samples)
        new_bytes = json.dumps({"input_data": [[float(x) for x in a.reshape(-1)] for a in samples.arrays]}, sort_keys=True).encode()
        if not target.exists() or target.read_bytes() != new_bytes:
            from zkml.workspace import write_bytes_atomic

            write_bytes_atomic(target, new_bytes)
        return target

    def _calibrate(self) -> Settings:
        from zkml.calibrate import rebase_multipliers_for
        from zkml.data import feature_ranges, read_samples
        from zkml.settings import read_settings
        from zkml.tune.auto import choose_settings
        from zkml.tune.fallback import calibrate_or_search

        model = self.export()
        self.preflight()
        data_path = self._calibration_data(model)
        # Tuned settings (workspace, committed, or tuned now for a [budget]) when made for this model: in the fingerprint.
        choice = choose_settings(self.config, self.ws, model, self.sample_input(model), calibration=data_path)
        rebase = rebase_multipliers_for(self.config.backend)  # keyed only when not None
        parts: dict[str, Any] = {
            "model": model.sha256,
            "data": sha256_file(data_path),
            # input_range_margin only guards prove-time inputs: changing it must not recalibrate.
            "circuit": {k: v for k, v in vars(choice.circuit).items() if k != "input_range_margin"},
            "ezkl": self._versions["ezkl"],
            **({"scale_rebase_multipliers": list(rebase)} if rebase else {}),
        }
        settings_path = self.ws.settings

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            settings, searched = calibrate_or_search(data_path, settings_path, choice, rebase_multipliers=rebase)
            ranges = feature_ranges(read_samples(data_path, model.inputs))
            return {"settings": settings_path}, {"logrows": settings.logrows, "input_ranges": ranges, "searched": searched}

        searched = self.runner.run_stage("calibrate", parts, produce)[1].get("searched")
        self.runner.remember("settings_note", choice.note(searched, settings_path))
        settings = read_settings(settings_path)
        self._record_settings(settings)
        return settings

    def _record_settings(self, settings: Settings) -> None:
        self.ws.set_info(
            "settings",
            {
                "logrows": settings.logrows,
                "input_scales": settings.input_scales,
                # The oracle's on-chain input bounds widen the calibrated ranges by this margin.
                "input_range_margin": self.config.circuit.input_range_margin,
                "param_scale": settings.param_scale,
                "visibility": {
                    "input": settings.input_visibility,
                    "output": settings.output_visibility,
                    "params": settings.param_visibility,
                },
            },
        )

    def compile(self) -> CompiledCircuit:
        """Compile the circuit and measure its fidelity against the float model (a batched circuit: compiled only)."""
        if self.batch_size > 1:
            return self._batched().circuit
        return self.runner.memo("compile", self._compile)  # type: ignore[no-any-return]

    def _compile(self) -> CompiledCircuit:
        from dataclasses import replace

        from zkml.circuit import compile_circuit
        from zkml.data import read_samples
        from zkml.export import reference_evaluator
        from zkml.fidelity import measure_fidelity
        from zkml.workspace import write_json_atomic

        model = self.export()
        settings = self.calibrate()
        compiled_path = self.ws.compiled
        fidelity_path = self.ws.fidelity
        fidelity_source = self.config.holdout or self.ws.calibration
        parts = {
            "model": model.sha256,
            "settings": settings.sha256,
            "fidelity_data": sha256_file(fidelity_source),
            "ezkl": self._versions["ezkl"],
        }

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            circuit = compile_circuit(model, settings, compiled_path)
            samples = read_samples(fidelity_source, model.inputs)
            fidelity, floats, circuits = measure_fidelity(
                model,
                circuit,
                samples,
                classifier=self.config.task == "classification",
                progress=lambda i, n: self.progress(ProgressEvent("compile", "step", i, n)),
            )
            report = {
                **fidelity.as_dict(),
                "evaluator": reference_evaluator(model),
                "rewrites": list(model.rewrites),
                "data": str(fidelity_source),
            }
            write_json_atomic(fidelity_path, {**report, "float_outputs": floats, "circuit_outputs": circuits})
            return {"compiled": compiled_path, "fidelity": fidelity_path}, {"fidelity": fidelity.as_dict()}

        _, details, _ = self.runner.run_stage("compile", parts, produce)
        circuit = CompiledCircuit(compiled_path, sha256_file(compiled_path), settings)
        fid = details.get("fidelity")
        if fid:
            self.runner.remember("fidelity", Fidelity(**fid))
            circuit = replace(circuit, settings=replace(settings, fidelity=self.runner.recall("fidelity")))
        return circuit

    def srs(self) -> Srs:
        """The SRS for the circuit's logrows (imported if present, else development)."""
        return self.runner.memo("srs", self._srs)  # type: ignore[no-any-return]

    def _srs(self) -> Srs:
        from zkml.srs import UNSAFE_WARNINGS, cached_srs, resolve_srs

        settings = self.calibrate()
        cached = cached_srs(settings.logrows)
        srs = self.runner.timed(
            "srs", lambda: resolve_srs(settings.logrows, allow_dev=self.allow_dev_srs), reused=lambda found: found == cached
        )
        self.ws.set_info(
            "srs",
            {
                "path": str(srs.path),
                "sha256": srs.sha256,
                "logrows": srs.logrows,
                "provenance": srs.provenance,
                # An unpinned import is as unsafe as a development SRS: readers need both.
                "pinned": srs.pinned,
                "unsafe": srs.unsafe,
                "warning": UNSAFE_WARNINGS.get(srs.unsafe_reason or "", ""),
            },
        )
        return srs

    def keys(self) -> Keys:
        """Proving and verifying keys (reused while circuit and SRS are unchanged)."""
        return self.runner.memo("keys", self._keys)  # type: ignore[no-any-return]

    def _keys(self) -> Keys:
        from zkml.estimate import check_setup_fits
        from zkml.keys import load_keys, setup_keys

        circuit = self.compile()
        srs = self.srs()
        parts = {"circuit": circuit.sha256, "srs": srs.sha256, "ezkl": self._versions["ezkl"]}

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            check_setup_fits(circuit.settings.path)  # refuse with the numbers, before the OOM killer would
            if self.batch_size > 1:  # the folder may hold prove-many's keys for it: reused while bound to this circuit and SRS
                from zkml.proving.batch import load_or_make_keys

                keys = load_or_make_keys(circuit, srs, self.ws.root)[0]
            else:
                keys = setup_keys(circuit, srs, self.ws.root)
            return (
                {"pk": keys.pk_path, "vk": keys.vk_path, "binding": self.ws.keys_binding},
                {"pk_bytes": keys.pk_path.stat().st_size, "vk_bytes": keys.vk_path.stat().st_size},
            )

        self.runner.run_stage("keys", parts, produce)
        return load_keys(self.ws.root, verify_hashes=False)

    def witness(self, input_path: Path | None = None) -> Witness:
        """Check the input whole (nothing is written for a refused one), then witness it as ``input.json`` in ezkl's format."""
        from zkml.circuit import decode_outputs, generate_witness
        from zkml.data import check_in_range, input_payload
        from zkml.workspace import write_json_atomic

        model = self.runner.memo("onnx", self._export_model)
        source = Path(input_path) if input_path else self.sample_input(model)
        samples = self._checked_input(source, model, one=True)
        circuit = self.compile()  # after the check: it writes the float reference of the sample input
        ranges = ((self.ws.stage("calibrate") or {}).get("details") or {}).get("input_ranges")
        if ranges:
            check_in_range(samples, [(lo, hi) for lo, hi in ranges], self.config.circuit.input_range_margin, where=source)
        keys = self.keys() if "polycommit" in (circuit.settings.input_visibility, circuit.settings.output_visibility) else None
        parts = {"circuit": circuit.sha256, "input": sha256_file(source)}
        witness_path = self.ws.witness

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            # Keep the proved input beside its proof, so the workspace alone explains the proof.
            write_json_atomic(self.ws.input, input_payload(samples))
            generate_witness(circuit, self.ws.input, witness_path, keys=keys, srs=self.srs() if keys else None)
            return {"witness": witness_path, "input": self.ws.input}, {}

        self.runner.run_stage("witness", parts, produce)
        data = json.loads(witness_path.read_text())
        return Witness(witness_path, sha256_file(witness_path), circuit.sha256, decode_outputs(data, circuit.settings))

    def prove(self, input_path: Path | None = None) -> Proof:
        """Prove the input (reused while witness and keys are unchanged)."""
        from zkml.prove import load_proof, prove

        witness = self.witness(input_path)
        circuit = self.compile()
        keys = self.keys()
        srs = self.srs()
        proof_path = self.ws.proof
        parts = {"witness": witness.sha256, "pk": keys.pk_sha256, "srs": srs.sha256}

        def produce() -> tuple[dict[str, Path], dict[str, Any]]:
            proof = prove(witness, circuit, keys, srs, proof_path)
            return {"proof": proof_path}, {"proof_bytes": proof.size_bytes}

        self.runner.run_stage("prove", parts, produce)
        self.runner.remember("outputs", witness.outputs)
        return load_proof(proof_path, circuit.sha256)

    def verify(self, proof: Proof | None = None) -> VerifyResult:
        """Verify a proof (the workspace's own by default); always runs, it is cheap."""
        from zkml.prove import load_proof
        from zkml.verify import verify

        circuit = self.compile()
        keys = self.keys()
        srs = self.srs()
        if proof is None:
            proof_path = self.ws.proof
            if not proof_path.is_file():
                raise ConfigError(f"no proof in {self.ws.root}", hint="run zkml prove first")
            proof = load_proof(proof_path, circuit.sha256)
        result: VerifyResult = self.runner.timed("verify", lambda: verify(proof, circuit.settings, keys, srs))
        self.ws.set_info("last_verify", {"proof": str(proof.path), "verified": result.verified, "reason": result.reason})
        return result

    # -- a batched circuit (batch_size > 1) ----------------------------------------------------

    def _batched(self) -> PreparedBatch:
        """The batched circuit up to compile: built or reused (prove-many's cache), and recorded in the manifest."""
        return self.runner.memo("batched", self._prepare_batched)

    def _prepare_batched(self) -> PreparedBatch:
        from zkml.proving.batch_workspace import prepare_recorded

        prepared = prepare_recorded(self.ws, self.runner, self.config, self.batch_size, ezkl=self._versions["ezkl"])
        self._record_settings(prepared.circuit.settings)
        return prepared

    def _example_batch(self, model: OnnxModel) -> Path:
        """Write the batch proved by default: the input's samples, then calibration samples, then padding."""
        from zkml.proving.batch_workspace import write_example_batch

        batch = write_example_batch(self.ws.batch_example, self.config, self.input_path, model.inputs, self.batch_size)
        self.runner.remember("batch_samples", batch.taken)
        return self.ws.batch_example

    @property
    def last_outputs(self) -> tuple[float, ...]:
        """The circuit's decoded outputs for the last proved input (empty before proving)."""
        return tuple(self.runner.recall("outputs", ()))

    def run(self) -> RunSummary:
        """Every stage from export to local verification (:func:`zkml.flow.run` adds the EVM stages)."""
        summary = RunSummary(self.config.name, self.ws.root)
        try:
            proof = self.prove()
            result = self.verify(proof)
        finally:
            summary.timings = list(self.timings)
        summary.logrows = self.compile().settings.logrows
        summary.proof_bytes = proof.size_bytes
        summary.fidelity = self.fidelity
        summary.verified = result.verified
        summary.verify_reason = result.reason
        summary.srs_provenance = self.srs().provenance
        summary.outputs = self.last_outputs
        summary.extra.update(self.settings_note)
        if self.batch_size > 1:
            summary.extra["batch_size"] = self.batch_size
            summary.extra["batch_samples"] = self.runner.recall("batch_samples")
        return summary

    @property
    def settings_note(self) -> dict[str, Any]:
        """How this run chose its settings (tuned, re-validated, default), once :meth:`calibrate` has run."""
        note: dict[str, Any] = self.runner.recall("settings_note") or {}
        return note

    @property
    def fidelity(self) -> Fidelity | None:
        """The compiled circuit's fidelity, once :meth:`compile` has run."""
        fidelity: Fidelity | None = self.runner.recall("fidelity")
        return fidelity


__all__ = ["STAGES", "Pipeline", "ProgressEvent", "ProgressCallback", "tool_versions"]
