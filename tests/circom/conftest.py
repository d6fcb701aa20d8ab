"""Session fixtures of the circom backend's end-to-end tests: the example MLP and the tiny circuit with Groth16 keys.

The development powers of tau are generated once per session into the session's private
cache (tests/conftest.py): 2^11 for the MLP takes ~100 s of snarkjs's ``prepare phase2``.
The oracle tests' chain fixtures (``world``, ``market``, ``chain``) are reused as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.oracle.conftest import chain, market, world  # noqa: F401  (the oracle tests' chain fixtures, shared)
from zkml.circom.build import CircomCircuit, Groth16Keys


@dataclass(frozen=True)
class Groth16Model:
    """A halo2 workspace's model compiled to circom, with keys and a proof of the workspace's example input."""

    workspace: Path
    circuit: CircomCircuit
    keys: Groth16Keys
    proof: Any  # zkml.circom.prove.Groth16Proof
    proof_dir: Path


def _groth16(proved: Any, folder: Path) -> Groth16Model:
    from zkml.circom.build import compile_model, setup_groth16
    from zkml.circom.prove import prove, quantize_inputs

    ws = proved.ws
    circuit = compile_model(Path(ws.onnx), Path(ws.settings), folder)
    keys = setup_groth16(circuit)
    values = json.loads((Path(ws.root) / "input.json").read_text())["input_data"][0]
    proof = prove(circuit, keys, quantize_inputs(circuit, values), folder / "example")
    return Groth16Model(Path(ws.root), circuit, keys, proof, folder / "example")


@pytest.fixture(scope="session")
def g16_mlp(mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Groth16Model:
    return _groth16(mlp, tmp_path_factory.mktemp("g16_mlp"))


@pytest.fixture(scope="session")
def g16_tiny(tiny: Any, tmp_path_factory: pytest.TempPathFactory) -> Groth16Model:
    return _groth16(tiny, tmp_path_factory.mktemp("g16_tiny"))


@dataclass(frozen=True)
class UniversalModel:
    """The one-input tie model (tests/circom/models.py) with PLONK or FFLONK keys and a proof of input 3."""

    circuit: CircomCircuit
    keys: Groth16Keys
    proof: Any  # zkml.circom.prove.SnarkProof
    proof_dir: Path


@pytest.fixture(scope="session")
def tie_circuit(tmp_path_factory: pytest.TempPathFactory, zkml_cache: Path) -> CircomCircuit:
    """A 124-constraint circuit: its PLONK (ptau 2^8) and FFLONK (2^11) setups take seconds once the ptau is made."""
    from tests.circom.models import SCALE, tie_model
    from zkml.circom.build import compile_model

    folder = tmp_path_factory.mktemp("tie")
    settings = folder / "settings.json"
    settings.write_text(json.dumps({"run_args": {"input_scale": SCALE, "param_scale": SCALE, "scale_rebase_multiplier": 1}}))
    return compile_model(tie_model(folder / "t.onnx"), settings, folder / "circom")


def _universal(circuit: CircomCircuit, name: str) -> UniversalModel:
    from zkml.circom.build import setup_keys
    from zkml.circom.prove import prove, to_field

    keys = setup_keys(circuit, name)
    proof = prove(circuit, keys, [to_field(3)], circuit.folder / f"proof-{name}")
    return UniversalModel(circuit, keys, proof, circuit.folder / f"proof-{name}")


@pytest.fixture(scope="session")
def plonk_tie(tie_circuit: CircomCircuit) -> UniversalModel:
    return _universal(tie_circuit, "plonk")


@pytest.fixture(scope="session")
def fflonk_tie(tie_circuit: CircomCircuit) -> UniversalModel:
    return _universal(tie_circuit, "fflonk")
