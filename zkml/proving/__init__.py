"""Proving many inputs: warm provers, a process pool, Ray, batched circuits and the device.

Modules, from the bottom up (each imports only those above it):

- :mod:`zkml.proving.device` picks the proving device (``auto``, ``cpu``, ``gpu``).
- :mod:`zkml.proving.warm` holds :class:`ProverSpec`, :class:`ProofResult` and the
  :class:`WarmProver` that checks a circuit once and proves many inputs.
- :mod:`zkml.proving.pool` spreads proofs over local worker processes.
- :mod:`zkml.proving.ray_cluster` spreads them over a Ray cluster.
- :mod:`zkml.proving.unroll` and :mod:`zkml.proving.batch` build circuits that
  prove ``B`` inferences at once.
- :mod:`zkml.proving.backends` picks one of the backends (:func:`prove_inputs`).

The names below resolve on first access (PEP 562): importing this package
imports neither ezkl, nor ray, nor torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Public name -> the submodule that defines it.
_EXPORTS = {
    "DeviceChoice": "device",
    "GpuProbe": "device",
    "probe_gpu": "device",
    "select_device": "device",
    "ProofResult": "warm",
    "ProverSpec": "warm",
    "WarmProver": "warm",
    "collect_inputs": "warm",
    "unique_names": "warm",
    "with_paths": "warm",
    "ProverPool": "pool",
    "RayProver": "ray_cluster",
    "unroll_batch": "unroll",
    "BatchedCircuit": "batch",
    "BatchVerifier": "batch",
    "build_batched": "batch",
    "deploy_batch_verifier": "batch",
    "export_batched": "batch",
    "write_batch_input": "batch",
    "prove_inputs": "backends",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` and return it (PEP 562)."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
