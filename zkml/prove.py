"""Prove: a witness and the proving key become a proof."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from zkml import _ezkl
from zkml.artifacts import CompiledCircuit, Keys, Proof, Srs, Witness, sha256_file
from zkml.errors import KeysError, ProofError
from zkml.keys import check_keys_match
from zkml.workspace import atomic_path

log = logging.getLogger(__name__)


def prove(witness: Witness, circuit: CompiledCircuit, keys: Keys, srs: Srs, out_path: Path) -> Proof:
    """Prove ``witness`` on ``circuit`` and write the proof to ``out_path``.

    Raises:
        KeysError: the keys or witness belong to another circuit.
        ProofError: ezkl failed to prove (e.g. the witness does not satisfy the circuit).
    """
    check_keys_match(keys, circuit, srs)
    if witness.circuit_sha256 != circuit.sha256:
        raise KeysError("the witness was made with another circuit", hint="generate the witness again for this circuit")
    with atomic_path(out_path) as tmp:
        try:
            _ezkl.call("prove", str(witness.path), str(circuit.path), str(keys.pk_path), str(tmp), srs_path=str(srs.path))
        except _ezkl.EzklFailure as exc:
            raise ProofError(f"proving failed: {exc}", hint="check that the input is inside the calibrated range") from exc
    size = proof_size(out_path)
    log.info("proof %s: %d bytes", out_path, size)
    return Proof(Path(out_path), sha256_file(out_path), size, circuit.sha256)


def proof_size(path: Path) -> int:
    """Size in bytes of the proof itself (not of its JSON wrapper).

    Raises:
        ProofError: the file is not an ezkl proof.
    """
    try:
        data = json.loads(Path(path).read_text())
        return len(data["proof"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProofError(f"{path} is not a readable ezkl proof: {exc}") from exc


def load_proof(path: Path, circuit_sha256: str = "") -> Proof:
    """Describe an existing proof file."""
    return Proof(Path(path), sha256_file(path), proof_size(path), circuit_sha256)
