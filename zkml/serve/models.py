"""The models a service proves: one workspace each, its prover spec, and the CLI's input checks.

Inputs are checked in the server by the very function ``zkml prove-many`` runs
on each input (:class:`zkml.proving.warm.WarmProver`'s check: shape, NaN/inf,
batch size, calibrated range), so a 422 carries the CLI's message; the only
change is that the server's staging path is replaced by ``input``.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import InputDataError

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

    def check_input(self, payload: object, staging: Path) -> str:
        """Check a submitted input with the CLI's rules; returns it as the JSON text to prove.

        Raises:
            InputDataError: the CLI's message, with ``input`` in place of the file path.
        """
        staging.mkdir(parents=True, exist_ok=True)
        path = staging / f"check-{uuid.uuid4().hex}.json"
        text = json.dumps(payload)
        path.write_text(text)
        try:
            # The same check prove-many applies to each input (WarmProver proves only what passes it).
            self.checker.check_input(path)
        except InputDataError as exc:
            raise InputDataError(exc.message.replace(str(path), INPUT_LABEL), hint=exc.hint) from exc
        finally:
            path.unlink(missing_ok=True)
        return text


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
