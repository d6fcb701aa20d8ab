"""Session fixtures for the EVM tests: real proofs, compiled verifiers, one anvil.

Expensive things are built once per session: two proved circuits (from the zkml
pipeline), their verifiers, and one anvil. Each test that touches the chain gets a
fresh state through ``evm_snapshot``/``evm_revert``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zkml.evm import chain as chain_mod
from zkml.evm.verifier import VerifierArtifact, Vka, create_vka, generate_verifier

# anvil's first well-known dev key: funded on every anvil, worthless anywhere else.
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@dataclass(frozen=True)
class ProvedCircuit:
    """Paths of a circuit proved end to end."""

    onnx: Path
    settings: Path
    compiled: Path
    srs: Path
    vk: Path
    pk: Path
    witness: Path
    proof: Path


def _from_pipeline(proved: Any) -> ProvedCircuit:
    """The paths of a circuit the zkml pipeline proved (tests/conftest.py's session fixtures)."""
    pipeline = proved.pipeline
    ws = pipeline.ws
    return ProvedCircuit(
        onnx=ws.path("model.onnx"),
        settings=ws.path("settings.json"),
        compiled=ws.path("model.compiled"),
        srs=pipeline.srs().path,
        vk=ws.path("vk.key"),
        pk=ws.path("pk.key"),
        witness=ws.path("witness.json"),
        proof=ws.path("proof.json"),
    )


@pytest.fixture(scope="session")
def proved_circuit(mlp: Any) -> ProvedCircuit:
    """circuits/mlp_regressor (8 -> 16 -> 16 -> 1), proved once per session by the zkml pipeline."""
    return _from_pipeline(mlp)


@pytest.fixture(scope="session")
def proved_circuit_b(tiny: Any) -> ProvedCircuit:
    """A different model (4 -> 6 -> 2) for cross-model tests."""
    return _from_pipeline(tiny)


@pytest.fixture(scope="session")
def plain_verifier(tmp_path_factory: pytest.TempPathFactory, proved_circuit: ProvedCircuit) -> VerifierArtifact:
    c = proved_circuit
    return generate_verifier(c.vk, c.settings, c.srs, tmp_path_factory.mktemp("verifier_plain"))


@pytest.fixture(scope="session")
def reusable_verifier(tmp_path_factory: pytest.TempPathFactory, proved_circuit: ProvedCircuit) -> VerifierArtifact:
    c = proved_circuit
    return generate_verifier(c.vk, c.settings, c.srs, tmp_path_factory.mktemp("verifier_reusable"), reusable=True)


@pytest.fixture(scope="session")
def vkas(tmp_path_factory: pytest.TempPathFactory, proved_circuit: ProvedCircuit, proved_circuit_b: ProvedCircuit) -> tuple[Vka, Vka]:
    out = tmp_path_factory.mktemp("vkas")
    a, b = proved_circuit, proved_circuit_b
    return (create_vka(a.vk, a.settings, a.srs, out / "a.vka"), create_vka(b.vk, b.settings, b.srs, out / "b.vka"))


@pytest.fixture(scope="session")
def anvil() -> Iterator[chain_mod.AnvilNode]:
    """One anvil (chain id 31337) for the whole session."""
    try:
        chain_mod.find_anvil()
    except chain_mod.AnvilError as exc:
        pytest.skip(f"anvil is not installed: {exc}")
    with chain_mod.local_anvil() as node:
        yield node


@pytest.fixture(scope="session")
def anvil_chain5() -> Iterator[chain_mod.AnvilNode]:
    """A second anvil posing as a non-development chain (chain id 5)."""
    with chain_mod.local_anvil(chain_id=5) as node:
        yield node


def _snapshot(conn: chain_mod.Connection) -> Iterator[chain_mod.Connection]:
    snap = conn.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield conn
    finally:
        assert conn.w3.provider.make_request("evm_revert", [snap])["result"] is True


@pytest.fixture
def conn(anvil: chain_mod.AnvilNode) -> Iterator[chain_mod.Connection]:
    """A connection to the session anvil, reverted to its prior state after the test."""
    yield from _snapshot(chain_mod.connect(anvil.url))


@pytest.fixture
def conn5(anvil_chain5: chain_mod.AnvilNode) -> Iterator[chain_mod.Connection]:
    """A connection to the chain-id-5 anvil, reverted after the test."""
    yield from _snapshot(chain_mod.connect(anvil_chain5.url))


@pytest.fixture
def flipped_proof(tmp_path: Path, proved_circuit: ProvedCircuit) -> Path:
    """The valid proof with one byte of the proof flipped."""
    data: dict[str, Any] = json.loads(proved_circuit.proof.read_text())
    raw = bytearray(bytes.fromhex(data["hex_proof"].removeprefix("0x")))
    raw[100] ^= 0x01
    data["hex_proof"] = "0x" + raw.hex()
    data["proof"] = list(raw)
    out = tmp_path / "flipped.json"
    out.write_text(json.dumps(data))
    return out


@pytest.fixture
def copy_verifier(tmp_path: Path) -> Any:
    """Copy a verifier folder into the test's tmp dir (tests that edit or record into it)."""

    def copy(artifact: VerifierArtifact) -> Path:
        dest = tmp_path / artifact.record_path.parent.name
        shutil.copytree(artifact.record_path.parent, dest)
        return dest

    return copy
