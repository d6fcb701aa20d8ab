"""Session-wide fixtures: one SRS cache, one proved example circuit, one tiny second circuit.

Expensive artifacts (SRS, keys, proofs) are built once per test session; tests
that change things copy what they need into their own tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TINY_CIRCUIT, make_tiny_onnx

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
    """A circuit taken through every stage once per session, for tests to read (not modify)."""

    pipeline: Any  # zkml.pipeline.Pipeline
    build_dir: Path
    summary: Any  # zkml.pipeline.RunSummary

    @property
    def workspace(self) -> Path:
        return Path(self.pipeline.ws.root)

    @property
    def ws(self) -> Any:
        """The :class:`zkml.workspace.Workspace` (typed paths: ``ws.proof``, ``ws.vk``, ...)."""
        return self.pipeline.ws

    @property
    def srs(self) -> Path:
        return Path(self.pipeline.srs().path)

    def __getattr__(self, name: str) -> Path:
        # onnx, settings, compiled, pk, vk, witness, proof: the workspace's own files.
        if name in ("onnx", "settings", "compiled", "pk", "vk", "witness", "proof"):
            return Path(getattr(self.pipeline.ws, name))
        raise AttributeError(name)


@pytest.fixture(scope="session")
def mlp(tmp_path_factory: pytest.TempPathFactory, zkml_cache: Path) -> ProvedCircuit:
    """circuits/mlp_regressor proved and verified once."""
    from zkml.config import load_config
    from zkml.pipeline import Pipeline
    from zkml.workspace import Workspace

    build = tmp_path_factory.mktemp("build")
    # As its zkml.toml says (backend = "auto": calibrated for both backends). Nothing here goes on chain, so
    # no backend is measured; tests that do pass choose_backend=False or --backend halo2 (the choice is
    # tests/circom/test_auto_backend.py's, slow), and every one shares this calibration.
    config = load_config(CIRCUITS / "mlp_regressor")
    pipeline = Pipeline(config, Workspace(build / config.name))
    summary = pipeline.run()
    return ProvedCircuit(pipeline, build, summary)


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
    # The decomposition `zkml tune` picks for small models: no 16,384-row range-check table, so
    # logrows 11 instead of ezkl's default 15 and every key, proof and deployment of it ~5x cheaper.
    config = config_for_onnx(onnx_path, input_path=input_path).with_circuit(**TINY_CIRCUIT)
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
    circuit: object  # zkml.proving.batch.BatchedCircuit
    proofs: dict[tuple[int, ...], object]  # sample indices -> zkml.proving.warm.ProofResult
    samples: object  # zkml.data.Samples the batches were drawn from


@pytest.fixture(scope="session")
def batched_tiny(tiny: ProvedCircuit, tmp_path_factory: pytest.TempPathFactory) -> BatchedTiny:
    """The tiny circuit as a batch-2 circuit, proved for samples (0, 1), (1, 2) and (0, 0)."""
    import json

    import numpy as np

    from zkml.data import Samples, write_samples
    from zkml.proving.batch import build_batched
    from zkml.proving.warm import WarmProver

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


# -- chains: one anvil per session (plus a second posing as a public chain), snapshot per test


@pytest.fixture(scope="session")
def anvil() -> Iterator[Any]:
    """One anvil (chain id 31337) for the whole session."""
    from zkml.errors import AnvilError
    from zkml.evm.anvil import find_anvil, local_anvil

    try:
        find_anvil()
    except AnvilError as exc:
        pytest.skip(f"anvil is not installed: {exc}")
    with local_anvil() as node:
        yield node


@pytest.fixture(scope="session")
def anvil_chain5() -> Iterator[Any]:
    """A second anvil posing as a non-development chain (chain id 5)."""
    from zkml.evm.anvil import local_anvil

    with local_anvil(chain_id=5) as node:
        yield node


def _snapshot(conn: Any) -> Iterator[Any]:
    snap = conn.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield conn
    finally:
        assert conn.w3.provider.make_request("evm_revert", [snap])["result"] is True


@pytest.fixture
def conn(anvil: Any) -> Iterator[Any]:
    """A connection to the session anvil, reverted to its prior state after the test."""
    from zkml.evm.rpc import connect

    yield from _snapshot(connect(anvil.url))


@pytest.fixture
def conn5(anvil_chain5: Any) -> Iterator[Any]:
    """A connection to the chain-id-5 anvil, reverted after the test."""
    from zkml.evm.rpc import connect

    yield from _snapshot(connect(anvil_chain5.url))
