"""zkml: from a trained model to a zero-knowledge proof a smart contract checks.

The public API is one function per stage (README.md, "How it fits together") plus
:func:`zkml.flow.run` for the whole flow (``zkml run``). Heavy dependencies (torch, ezkl,
web3) are imported inside functions, so importing zkml is instant.
"""

from __future__ import annotations

from zkml._lazy import lazy_exports

__version__ = "0.1.0"

# name -> module; resolved on first attribute access (PEP 562) to keep import cheap.
_EXPORTS = {
    "load_config": "zkml.config",
    "config_for_onnx": "zkml.config",
    "CircuitConfig": "zkml.config",
    "CircuitSettings": "zkml.config",
    "export_model": "zkml.export",
    "inspect_onnx": "zkml.export",
    "run_onnx": "zkml.export",
    "preflight": "zkml.preflight",
    "calibrate": "zkml.calibrate",
    "compile_circuit": "zkml.circuit",
    "generate_witness": "zkml.circuit",
    "measure_fidelity": "zkml.fidelity",
    "generate_dev_srs": "zkml.srs",
    "import_srs": "zkml.srs",
    "resolve_srs": "zkml.srs",
    "setup_keys": "zkml.keys",
    "load_keys": "zkml.keys",
    "prove": "zkml.prove",
    "verify": "zkml.verify",
    "Pipeline": "zkml.pipeline",
    "run": "zkml.flow",
    "RunSummary": "zkml.artifacts",
    "Workspace": "zkml.workspace",
    "read_samples": "zkml.data",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
