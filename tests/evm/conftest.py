"""Session fixtures for the EVM tests: real proofs, compiled verifiers, one anvil.

Expensive things are built once per session: two proved circuits (ezkl, raw for
now), their verifiers, and one anvil. Each test that touches the chain gets a
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


def _prove_mlp(root: Path, srs_dir: Path, sizes: tuple[int, int, int], seed: int) -> ProvedCircuit:
    # Raw ezkl on purpose: to be replaced by the zkml pipeline once it exists.
    import ezkl
    import torch

    n_in, n_hidden, n_out = sizes
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(n_in, n_hidden), torch.nn.ReLU(), torch.nn.Linear(n_hidden, n_out)).eval()
    x = torch.randn(1, n_in)
    root.mkdir(parents=True, exist_ok=True)
    onnx, data, settings = root / "model.onnx", root / "input.json", root / "settings.json"
    compiled, vk, pk = root / "model.compiled", root / "vk.key", root / "pk.key"
    witness, proof = root / "witness.json", root / "proof.json"
    torch.onnx.export(model, (x,), str(onnx), dynamo=False, opset_version=17, input_names=["x"], output_names=["y"])
    data.write_text(json.dumps({"input_data": [x.flatten().tolist()]}))
    ezkl.gen_settings(str(onnx), str(settings))
    ezkl.calibrate_settings(str(data), str(onnx), str(settings), "resources")
    ezkl.compile_circuit(str(onnx), str(compiled), str(settings))
    logrows = json.loads(settings.read_text())["run_args"]["logrows"]
    srs = srs_dir / f"kzg{logrows}.srs"  # shared by every circuit of the same size
    if not srs.exists():
        ezkl.gen_srs(str(srs), logrows)
    ezkl.gen_witness(str(data), str(compiled), str(witness))
    ezkl.setup(str(compiled), str(vk), str(pk), srs_path=str(srs))
    ezkl.prove(str(witness), str(compiled), str(pk), str(proof), srs_path=str(srs))
    circuit = ProvedCircuit(onnx, settings, compiled, srs, vk, pk, witness, proof)
    for path in (onnx, settings, compiled, srs, vk, pk, witness, proof):
        assert path.is_file() and path.stat().st_size > 0, f"ezkl did not write {path}"
    return circuit


@pytest.fixture(scope="session")
def srs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("srs")


@pytest.fixture(scope="session")
def proved_circuit(tmp_path_factory: pytest.TempPathFactory, srs_dir: Path) -> ProvedCircuit:
    """The tiny MLP (8 -> 16 -> 1), proved once per session."""
    return _prove_mlp(tmp_path_factory.mktemp("mlp_a"), srs_dir, (8, 16, 1), seed=0)


@pytest.fixture(scope="session")
def proved_circuit_b(tmp_path_factory: pytest.TempPathFactory, srs_dir: Path) -> ProvedCircuit:
    """A different model (4 -> 8 -> 2) for cross-model tests."""
    return _prove_mlp(tmp_path_factory.mktemp("mlp_b"), srs_dir, (4, 8, 2), seed=1)


@pytest.fixture(scope="session")
def plain_verifier(tmp_path_factory: pytest.TempPathFactory, proved_circuit: ProvedCircuit) -> VerifierArtifact:
    c = proved_circuit
    return generate_verifier(c.vk, c.settings, c.srs, tmp_path_factory.mktemp("verifier_plain"))


@pytest.fixture(scope="session")
def reusable_verifier(tmp_path_factory: pytest.TempPathFactory, proved_circuit: ProvedCircuit) -> VerifierArtifact:
    c = proved_circuit
    return generate_verifier(c.vk, c.settings, c.srs, tmp_path_factory.mktemp("verifier_reusable"), reusable=True)


@pytest.fixture(scope="session")
def vkas(
    tmp_path_factory: pytest.TempPathFactory, proved_circuit: ProvedCircuit, proved_circuit_b: ProvedCircuit
) -> tuple[Vka, Vka]:
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
