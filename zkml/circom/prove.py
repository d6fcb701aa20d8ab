"""Prove and verify with snarkjs (Groth16, PLONK or FFLONK) over the circom circuit's wasm witness generator.

The proof is written twice: snarkjs's own ``proof.json`` + ``public.json``, and an
ezkl-shaped ``<system>_proof.json`` (``hex_proof`` + ``instances``) that zkml's on-chain
code reads unchanged (:func:`zkml.evm.onchain.read_proof`): ``hex_proof`` is the proof
words the adapter contract passes on to snarkjs's verifier (Groth16: A, B with each G2
coordinate's halves swapped as the EVM pairing precompile wants them, C; PLONK and
FFLONK: the 24 words of snarkjs's own calldata export), the instances are the public
signals as 32-byte little-endian field elements, inputs first, as ezkl orders them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zkml.circom import tools
from zkml.circom.build import CircomCircuit, SnarkKeys
from zkml.circom.graph import evaluate, quantize
from zkml.circom.systems import system
from zkml.dev_srs import ORDER
from zkml.errors import CircuitError, ProofError

log = logging.getLogger(__name__)

PROOF_NAME = "groth16_proof.json"
_HEX_WORD = re.compile(r"0x[0-9a-fA-F]+")


def proof_name(name: str) -> str:
    """The ezkl-shaped proof file's name for the proof system ``name``."""
    return f"{name}_proof.json"


@dataclass(frozen=True)
class SnarkProof:
    """A snarkjs proof of one sample.

    Attributes:
        path: the ezkl-shaped proof file (what the oracle publisher reads).
        proof: the proof bytes the adapter takes (256 for Groth16, 768 for PLONK and FFLONK).
        instances: the public signals as field elements (inputs then outputs).
        outputs: the outputs as signed integers at the output scale.
    """

    path: Path
    proof: bytes
    instances: tuple[int, ...]
    outputs: tuple[int, ...]


Groth16Proof = SnarkProof  # the first milestone's name


def to_field(value: int) -> int:
    """A signed integer as a BN254 scalar field element (negatives as ``r - |x|``, as ezkl)."""
    return int(value) % ORDER


def from_field(felt: int) -> int:
    """The signed integer a field element stands for."""
    felt = int(felt) % ORDER
    return felt - ORDER if felt > ORDER // 2 else felt


def quantize_inputs(circuit: CircomCircuit, values: Sequence[float]) -> tuple[int, ...]:
    """The model's float inputs as the field elements ezkl makes of them."""
    return tuple(to_field(quantize(v, circuit.graph.scale)) for v in values)


def proof_bytes(snarkjs_proof: dict[str, list]) -> bytes:
    """A, B, C as the verifier's calldata takes them (G2 coordinates as ``(c1, c0)``)."""
    a, b, c = snarkjs_proof["pi_a"], snarkjs_proof["pi_b"], snarkjs_proof["pi_c"]
    words = [a[0], a[1], b[0][1], b[0][0], b[1][1], b[1][0], c[0], c[1]]
    return b"".join(int(w).to_bytes(32, "big") for w in words)


def write_witness(
    circuit: CircomCircuit, inputs: Sequence[int], out_dir: Path, *, claimed_outputs: Sequence[int] | None = None
) -> tuple[Path, tuple[int, ...]]:
    """Compute the circuit's witness for ``inputs`` (field elements) with circom's wasm generator.

    The outputs are computed with ezkl's integer rules (:func:`zkml.circom.graph.evaluate`)
    and given to the circuit, which constrains them equal to what it computes: outputs that
    are not the circuit's (``claimed_outputs``, for tests) fail here.

    Returns:
        The ``.wtns`` file and the outputs as signed integers.

    Raises:
        ProofError: a wrong input count, or the circuit refused the witness.
    """
    signed = [from_field(v) for v in inputs]
    try:
        outputs = evaluate(circuit.graph, signed) if claimed_outputs is None else tuple(claimed_outputs)
    except CircuitError as exc:
        raise ProofError(exc.message) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    input_json, wtns = out_dir / "circom_input.json", out_dir / "witness.wtns"
    input_json.write_text(json.dumps({"inputs": [str(to_field(v)) for v in signed], "outputs": [str(to_field(v)) for v in outputs]}))
    tools.run("snarkjs", ["wtns", "calculate", circuit.wasm, input_json, wtns], doing="computing the witness", error=ProofError)
    return wtns, tuple(outputs)


def prove(circuit: CircomCircuit, keys: SnarkKeys, inputs: Sequence[int], out_dir: Path) -> SnarkProof:
    """Prove the model on ``inputs`` (field elements, as ezkl's instances) with the keys' proof system.

    Raises:
        ProofError: keys of another circuit, a wrong input count, or snarkjs failed.
    """
    if keys.r1cs_sha256 != circuit.r1cs_sha256:
        raise ProofError(f"the {keys.system} keys were made for another circuit", hint="run the circom setup again")
    wtns, outputs = write_witness(circuit, inputs, out_dir)
    raw_proof, public = out_dir / "proof.json", out_dir / "public.json"
    tools.run("snarkjs", [keys.system, "prove", keys.zkey, wtns, raw_proof, public], doing=f"proving ({keys.system})", error=ProofError)
    signals = tuple(int(s) for s in json.loads(public.read_text()))
    expected = tuple(to_field(v) for v in [*(from_field(i) for i in inputs), *outputs])
    if signals != expected:
        raise ProofError(f"the circuit's public signals {signals} are not the inputs then outputs {expected}")
    data = proof_bytes(json.loads(raw_proof.read_text())) if keys.system == "groth16" else _calldata_proof(keys.system, out_dir)
    path = out_dir / proof_name(keys.system)
    document = {
        "backend": keys.system,
        "hex_proof": "0x" + data.hex(),
        "instances": [[s.to_bytes(32, "little").hex() for s in signals]],
        "outputs": list(outputs),
    }
    path.write_text(json.dumps(document))
    return SnarkProof(path, data, signals, tuple(outputs))


def _calldata_proof(name: str, proof_dir: Path) -> bytes:
    """The proof words of snarkjs's own Solidity calldata export (its word order is the verifier's)."""
    out = tools.run(
        "snarkjs",
        ["zkey", "export", "soliditycalldata", proof_dir / "public.json", proof_dir / "proof.json"],
        doing=f"exporting the {name} calldata",
        error=ProofError,
    )
    words = system(name).proof_words
    found = _HEX_WORD.findall(out)
    if len(found) < words:
        raise ProofError(f"snarkjs's {name} calldata has {len(found)} words, fewer than the proof's {words}")
    return b"".join(int(w, 16).to_bytes(32, "big") for w in found[:words])


def verify(keys: SnarkKeys, proof_dir: Path) -> bool:
    """snarkjs's local verification of the proof in ``proof_dir`` (``proof.json`` + ``public.json``)."""
    out = tools.run(
        "snarkjs",
        [keys.system, "verify", keys.vk, proof_dir / "public.json", proof_dir / "proof.json"],
        doing=f"verifying ({keys.system})",
        error=ProofError,
        check=False,
    )
    # Groth16 and PLONK log "OK!", FFLONK "PROOF VERIFIED SUCCESSFULLY"; all log "[ERROR]" or "Invalid Proof" otherwise.
    accepted = "OK!" in out or "PROOF VERIFIED SUCCESSFULLY" in out
    return accepted and "[ERROR]" not in out and "Invalid Proof" not in out
