"""Session fixtures for the proving tests: a warm prover spec, inputs, a serial reference, one local Ray.

Everything is built on the small `tiny` circuit (tests/conftest.py) so the
pool and Ray tests spend their time on a few cheap proofs, not on setup. The
on-chain batch test uses the shared `anvil`/`conn` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import public_instances

BASE_INPUT = [0.5, -0.25, 0.1, 0.9]
# Small offsets: inside the calibrated range (calibration was jittered around BASE_INPUT),
# and different enough that each proof has its own public instances.
OFFSETS = (0.0, 0.04, -0.04)


@pytest.fixture(scope="session")
def tiny_spec(tiny: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A CPU ProverSpec for a private copy of the tiny workspace (the session one stays untouched)."""
    from zkml.pipeline import Pipeline
    from zkml.proving.warm import ProverSpec
    from zkml.workspace import Workspace

    root = tmp_path_factory.mktemp("proving-build")
    shutil.copytree(tiny.workspace, root / tiny.workspace.name)
    pipeline = Pipeline(tiny.pipeline.config, Workspace(root / tiny.workspace.name))
    return ProverSpec.from_pipeline(pipeline, device="cpu")


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three distinct inputs for the tiny circuit, one file each."""
    folder = tmp_path_factory.mktemp("proving-inputs")
    paths = []
    for index, offset in enumerate(OFFSETS):
        path = folder / f"in{index}.json"
        path.write_text(json.dumps({"input_data": [[x + offset for x in BASE_INPUT]]}))
        paths.append(path)
    return paths


@dataclass
class Reference:
    """The serial (in-process, warm) run every other backend is compared with."""

    results: list[Any]
    instances: list[list[list[str]]]


@pytest.fixture(scope="session")
def serial(tiny_spec: Any, tiny_inputs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The tiny inputs proved in turn by one warm prover."""
    from zkml.proving.warm import WarmProver

    prover = WarmProver(tiny_spec, tmp_path_factory.mktemp("serial"))
    results = prover.prove_many(tiny_inputs)
    return Reference(results, [public_instances(r.proof) for r in results])


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    """One local Ray (2 CPUs) for the session: starting Ray takes seconds."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def check_same_as_serial(results: list[Any], reference: Reference, spec: Any) -> None:
    """Same order, same public instances as the serial run, and every proof verifies."""
    from zkml.verify import verify

    assert [r.index for r in results] == list(range(len(reference.results)))
    assert [r.input for r in results] == [r.input for r in reference.results]
    assert [public_instances(r.proof) for r in results] == reference.instances
    assert [r.outputs for r in results] == [r.outputs for r in reference.results]
    for result in results:
        assert verify(result.proof, spec.circuit.settings, spec.keys, spec.srs).verified
