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
- :mod:`zkml.proving.many` proves many inputs end to end and summarises (:func:`prove_many`,
  what ``zkml prove-many`` runs).

The names below resolve on first access (PEP 562): importing this package
imports neither ezkl, nor ray, nor torch.
"""

from __future__ import annotations

from zkml._lazy import lazy_exports

# Submodule -> the public names it defines.
_MODULES = {
    "device": ("DeviceChoice", "GpuProbe", "probe_gpu", "select_device"),
    "warm": ("ProofResult", "ProverSpec", "WarmProver", "collect_inputs", "unique_names", "with_paths"),
    "pool": ("ProverPool",),
    "ray_cluster": ("RayProver",),
    "unroll": ("unroll_batch",),
    "batch": ("BatchVerifier", "BatchedCircuit", "build_batched", "deploy_batch_verifier", "export_batched", "write_batch_input"),
    "backends": ("prove_inputs",),
    "many": ("ProveManyEvent", "ProveManySummary", "prove_many"),
}
__getattr__, __dir__, __all__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for module, names in _MODULES.items() for name in names}
)
