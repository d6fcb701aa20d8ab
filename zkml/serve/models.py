"""The models a service proves: one workspace each, its prover spec, and the CLI's input checks.

Inputs are checked in the server by the very functions ``zkml prove-many`` runs
on each input (:func:`zkml.data.samples_from_payload`, then
:meth:`zkml.proving.warm.WarmProver.check_samples`: shape, depth, NaN/inf, batch
size, calibrated range), so a 422 carries the CLI's message with ``input`` in
place of the file's path, and the job stores the normalised form ezkl takes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zkml.config import CircuitConfig
    from zkml.proving.warm import ProvableCircuit, ProverSpec, WarmProver

log = logging.getLogger(__name__)

# How a submitted input is named in error messages (the server's own path means nothing to a client).
INPUT_LABEL = "input"


@dataclass(frozen=True)
class OracleBinding:
    """Where a model's verified predictions are published (attested models also name their feed).

    Attributes:
        rpc_url: the chain.
        oracle: the VerifiedPredictionOracle address.
        model_id: the registered model id (bytes32).
        feed: the price feed of an attested model (the keeper watches it); None for unattested.
        multiplier: the feature source's multiplier (attested models).
    """

    rpc_url: str
    oracle: str
    model_id: bytes
    feed: str | None = None
    multiplier: int = 100


@dataclass
class ServedModel:
    """A model the service proves.

    Attributes:
        name: the circuit's name (the API's model id).
        root: its workspace folder.
        spec: the prover spec (circuit, keys, SRS, input specs and ranges).
        checker: a warm prover in the server process, for input checks and verification (never for proving:
            ezkl holds the GIL while proving, which would stall the HTTP server).
        binding: where its predictions are published, if anywhere.
        config: the circuit's config (folding builds its batched circuit from it).
    """

    name: str
    root: Path
    spec: ProverSpec
    checker: WarmProver
    binding: OracleBinding | None = None
    config: CircuitConfig | None = None

    def describe(self) -> dict[str, Any]:
        """Plain-JSON form for ``GET /v1/models``."""
        settings = self.spec.circuit.settings
        return {
            "name": self.name,
            "workspace": str(self.root),
            "inputs": [{"name": s.name, "shape": list(s.shape)} for s in self.spec.inputs],
            "batch_size": self.spec.batch_size,
            "logrows": settings.logrows,
            "circuit_sha256": self.spec.circuit.sha256,
            "device": self.spec.device.used,
            "oracle": None
            if self.binding is None
            else {"address": self.binding.oracle, "model_id": "0x" + self.binding.model_id.hex(), "feed": self.binding.feed},
        }

    def check_input(self, payload: object, staging: Path | None = None) -> str:
        """Check a submitted input with the CLI's rules; returns its normalised form (ezkl's) as the JSON text to store and prove.

        ``staging`` is no longer used (the input is checked in memory); it stays for existing callers.

        Raises:
            InputDataError: the CLI's message, with ``input`` in place of the file path.
        """
        from zkml.data import input_payload, samples_from_payload

        # The normaliser zkml prove and prove-many read files with, then the same per-circuit checks
        # prove-many applies (WarmProver proves only what passes them): what is stored is what ezkl takes.
        samples = self.checker.check_samples(samples_from_payload(payload, self.spec.inputs, where=INPUT_LABEL), where=INPUT_LABEL)
        return json.dumps(input_payload(samples))


def load_model(pipeline: ProvableCircuit, out_dir: Path, *, device: str = "cpu", binding: OracleBinding | None = None) -> ServedModel:
    """Build (or reuse from its manifest) a workspace up to its keys and make it servable.

    Raises:
        ZkmlError: a stage of the workspace failed, or its keys do not match its circuit.
    """
    from zkml.proving.warm import ProverSpec, WarmProver

    spec = ProverSpec.from_pipeline(pipeline, device=device)
    checker = WarmProver(spec, out_dir)
    log.info("serving %s from %s", pipeline.config.name, pipeline.ws.root)
    return ServedModel(pipeline.config.name, Path(pipeline.ws.root), spec, checker, binding, pipeline.config)
