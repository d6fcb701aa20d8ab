"""Session-wide fixtures: one SRS cache, one proved example circuit, one tiny second circuit.

Expensive artifacts (SRS, keys, proofs) are built once per test session; tests
that change things copy what they need into their own tmp_path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CIRCUITS = REPO / "circuits"


@pytest.fixture(scope="session", autouse=True)
def zkml_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private SRS cache for the session, so tests never touch the user's."""
    cache = tmp_path_factory.mktemp("zkml-cache")
    previous = os.environ.get("ZKML_CACHE_DIR")
    os.environ["ZKML_CACHE_DIR"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("ZKML_CACHE_DIR", None)
    else:
        os.environ["ZKML_CACHE_DIR"] = previous


@dataclass
class ProvedCircuit:
    """A circuit taken through every stage, for tests to read (not modify)."""

    pipeline: object
    build_dir: Path
    summary: object

    @property
    def workspace(self) -> Path:
        return self.pipeline.ws.root  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(scope="session")
def mlp(tmp_path_factory: pytest.TempPathFactory, zkml_cache: Path) -> ProvedCircuit:
    """circuits/mlp_regressor proved and verified once."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    build = tmp_path_factory.mktemp("build")
    config = load_config(CIRCUITS / "mlp_regressor")
    pipeline = Pipeline(config, Workspace(build / config.name))
    summary = pipeline.run()
    return ProvedCircuit(pipeline, build, summary)


def make_tiny_onnx(path: Path, inputs: int = 4, outputs: int = 2, seed: int = 1) -> Path:
    """A small linear+ReLU model written with torch, different from the MLP example."""
    import torch

    from zkml.export import export_model

    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(inputs, 6), torch.nn.ReLU(), torch.nn.Linear(6, outputs))
    export_model(module, path, example_input=torch.randn(1, inputs))
    return path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, zkml_cache: Path) -> ProvedCircuit:
    """A second, different circuit (4 -> 2) proved once, for cross-circuit tests."""
    import json

    from zkml.config import config_for_onnx
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    root = tmp_path_factory.mktemp("tiny")
    onnx_path = make_tiny_onnx(root / "tiny.onnx")
    input_path = root / "input.json"
    input_path.write_text(json.dumps({"input_data": [[0.5, -0.25, 0.1, 0.9]]}))
    config = config_for_onnx(onnx_path, input_path=input_path)
    build = root / "build"
    pipeline = Pipeline(config, Workspace(build / config.name))
    summary = pipeline.run()
    return ProvedCircuit(pipeline, build, summary)


@pytest.fixture(scope="session")
def tiny_hashed(tiny: ProvedCircuit, tmp_path_factory: pytest.TempPathFactory) -> ProvedCircuit:
    """The tiny circuit with ``input_visibility = "hashed"`` (a Poseidon commitment), proved once."""
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    config = tiny.pipeline.config.with_circuit(input_visibility="hashed")  # type: ignore[attr-defined]
    build = tmp_path_factory.mktemp("hashed")
    pipeline = Pipeline(config, Workspace(build / "tiny_hashed"))
    summary = pipeline.run()
    return ProvedCircuit(pipeline, build, summary)


@dataclass
class BatchedTiny:
    """The tiny circuit unrolled to batches of 2, with proofs of three batches (sample indices)."""

    config: object  # the zkml.config.CircuitConfig it was built from
    circuit: object  # zkml.batch.BatchedCircuit
    proofs: dict[tuple[int, ...], object]  # sample indices -> zkml.prover.ProofResult
    samples: object  # zkml.data.Samples the batches were drawn from


@pytest.fixture(scope="session")
def batched_tiny(tiny: ProvedCircuit, tmp_path_factory: pytest.TempPathFactory) -> BatchedTiny:
    """The tiny circuit as a batch-2 circuit, proved for samples (0, 1), (1, 2) and (0, 0)."""
    import json

    import numpy as np

    from zkml.batch import build_batched
    from zkml.data import Samples, write_samples
    from zkml.prover import WarmProver

    root = tmp_path_factory.mktemp("batched")
    # The batch-1 circuit's calibrated scales: calibration then only has the layout left to search.
    run_args = json.loads((tiny.workspace / "settings.json").read_text())["run_args"]
    config = tiny.pipeline.config.with_circuit(input_scale=run_args["input_scale"], param_scale=run_args["param_scale"])  # type: ignore[attr-defined]
    circuit = build_batched(config, 2, root / "b2", device="cpu")
    # Three distinct samples inside the calibrated range (calibration jitters around the input).
    base = np.array([[0.5, -0.25, 0.1, 0.9]], dtype=np.float32)
    samples = Samples((np.concatenate([base, base + 0.03, base - 0.03]),))
    prover = WarmProver(circuit.spec, root / "proofs")
    proofs = {}
    for order in ((0, 1), (1, 2), (0, 0)):
        path = root / f"batch{''.join(map(str, order))}.json"
        write_samples(path, Samples(tuple(array[list(order)] for array in samples.arrays)))
        proofs[order] = prover.prove(path)
    return BatchedTiny(config, circuit, proofs, samples)
