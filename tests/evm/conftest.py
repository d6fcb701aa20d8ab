"""Session fixtures for the EVM tests: compiled verifiers of the session's proved circuits.

The proved circuits (``mlp``, ``tiny``) and the anvil (``anvil``, ``conn``) come from
tests/conftest.py; each test that touches the chain gets a fresh state through
``conn``'s ``evm_snapshot``/``evm_revert``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import flip_proof_byte
from zkml.evm.verifier import VerifierArtifact, Vka, create_vka, generate_verifier


@pytest.fixture(scope="session")
def plain_verifier(tmp_path_factory: pytest.TempPathFactory, mlp: Any) -> VerifierArtifact:
    c = mlp
    return generate_verifier(c.vk, c.settings, c.srs, tmp_path_factory.mktemp("verifier_plain"))


@pytest.fixture(scope="session")
def reusable_verifier(tmp_path_factory: pytest.TempPathFactory, mlp: Any) -> VerifierArtifact:
    c = mlp
    return generate_verifier(c.vk, c.settings, c.srs, tmp_path_factory.mktemp("verifier_reusable"), reusable=True)


@pytest.fixture(scope="session")
def vkas(tmp_path_factory: pytest.TempPathFactory, mlp: Any, tiny: Any) -> tuple[Vka, Vka]:
    out = tmp_path_factory.mktemp("vkas")
    a, b = mlp, tiny
    return (create_vka(a.vk, a.settings, a.srs, out / "a.vka"), create_vka(b.vk, b.settings, b.srs, out / "b.vka"))


@pytest.fixture
def flipped_proof(tmp_path: Path, mlp: Any) -> Path:
    """The valid proof with one byte of the proof flipped."""
    out = tmp_path / "flipped.json"
    flip_proof_byte(mlp.proof, out)
    return out


@pytest.fixture
def copy_verifier(tmp_path: Path) -> Any:
    """Copy a verifier folder into the test's tmp dir (tests that edit or record into it)."""

    def copy(artifact: VerifierArtifact) -> Path:
        dest = tmp_path / artifact.record_path.parent.name
        shutil.copytree(artifact.record_path.parent, dest)
        return dest

    return copy
