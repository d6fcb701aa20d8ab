"""The snarkjs proof systems of the circom backend and what each needs: Groth16, PLONK, FFLONK.

Groth16 needs a per-circuit phase 2 on top of the powers of tau; PLONK and FFLONK need
only the universal powers of tau, but a larger one for the same circuit. Both run on
snarkjs's PLONK gates, which it makes from the R1CS: one gate per public signal and per
R1CS constraint, plus one addition gate for every linear-combination term beyond what a
gate takes (:func:`plonk_gates` counts them exactly as snarkjs 0.7.6's setup does).
Then, with ``n`` gates:

- PLONK's domain is ``2^k >= n`` (k >= 3), and its setup reads the prepared ptau's
  Lagrange points of that size: ptau power ``k``.
- FFLONK's domain is ``2^k > n + 1`` (k >= 3), and its setup reads ``9 * 2^k + 18``
  powers of tau in G1, of which a ptau of power ``p`` holds ``2^(p+1) - 1``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from zkml.dev_srs import ORDER
from zkml.errors import CircuitError, ConfigError

MIN_DOMAIN_POWER = 3  # snarkjs: "the t polynomial is n+5, we need at least a power of 4"


@dataclass(frozen=True)
class SnarkSystem:
    """One snarkjs proof system as zkml drives it.

    Attributes:
        name: ``groth16``, ``plonk`` or ``fflonk`` (the snarkjs subcommand).
        verifier_contract: the contract name in snarkjs's Solidity template.
        adapter_contract: the name of zkml's adapter in front of it.
        proof_words: 32-byte words of the proof in the verifier's calldata.
        proof_abi: the ABI type(s) of the proof in the verifier's ``verifyProof`` signature.
        universal: needs only the universal powers of tau (no per-circuit ceremony).
    """

    name: str
    verifier_contract: str
    adapter_contract: str
    proof_words: int
    proof_abi: str
    universal: bool

    def verify_signature(self, public_signals: int) -> str:
        """The verifier's ``verifyProof`` signature for ``public_signals`` signals."""
        return f"verifyProof({self.proof_abi},uint256[{max(public_signals, 1)}])"


SYSTEMS: dict[str, SnarkSystem] = {
    "groth16": SnarkSystem("groth16", "Groth16Verifier", "Groth16Adapter", 8, "uint256[2],uint256[2][2],uint256[2]", False),
    "plonk": SnarkSystem("plonk", "PlonkVerifier", "PlonkAdapter", 24, "uint256[24]", True),
    "fflonk": SnarkSystem("fflonk", "FflonkVerifier", "FflonkAdapter", 24, "bytes32[24]", True),
}


def system(name: str) -> SnarkSystem:
    """The proof system called ``name``.

    Raises:
        ConfigError: not one of :data:`SYSTEMS`.
    """
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ConfigError(f"unknown circom proof system {name!r}: expected one of {', '.join(SYSTEMS)}") from None


def _read_lc(data: bytes, offset: int, field_size: int) -> tuple[dict[int, int], int]:
    (terms,) = struct.unpack_from("<I", data, offset)
    offset += 4
    lc: dict[int, int] = {}
    for _ in range(terms):
        (wire,) = struct.unpack_from("<I", data, offset)
        coef = int.from_bytes(data[offset + 4 : offset + 4 + field_size], "little")
        offset += 4 + field_size
        if coef % ORDER:
            lc[wire] = (lc.get(wire, 0) + coef) % ORDER
    return {w: c for w, c in lc.items() if c}, offset


def _variables(lc: dict[int, int]) -> int:
    return sum(1 for wire in lc if wire != 0)


def _gates(a: dict[int, int], b: dict[int, int], c: dict[int, int]) -> int:
    """PLONK gates snarkjs makes of one R1CS constraint a * b = c (its ``process``)."""

    def kind(lc: dict[int, int]) -> str:
        return "n" if _variables(lc) else ("k" if lc.get(0) else "0")

    def sum_gate(lc: dict[int, int]) -> int:
        return 1 + max(0, _variables(lc) - 3)

    def joined(lc: dict[int, int], k: int) -> dict[int, int]:
        out = {w: v * k % ORDER for w, v in lc.items()}
        for w, v in c.items():
            out[w] = (out.get(w, 0) - v) % ORDER
        return {w: v for w, v in out.items() if v}

    ka, kb = kind(a), kind(b)
    if "0" in (ka, kb):
        return sum_gate(c)
    if ka == "k":
        return sum_gate(joined(b, a[0]))
    if kb == "k":
        return sum_gate(joined(a, b[0]))
    return 1 + sum(max(0, _variables(lc) - 1) for lc in (a, b, c))


def plonk_gates(r1cs: Path) -> int:
    """The PLONK gates snarkjs's PLONK and FFLONK setups make of an ``.r1cs`` file.

    Raises:
        CircuitError: not an R1CS file.
    """
    data = Path(r1cs).read_bytes()
    if data[:4] != b"r1cs":
        raise CircuitError(f"{r1cs} is not an R1CS file")
    sections: dict[int, tuple[int, int]] = {}
    offset = 12
    for _ in range(struct.unpack_from("<I", data, 8)[0]):
        kind, size = struct.unpack_from("<IQ", data, offset)
        sections[kind] = (offset + 12, size)
        offset += 12 + size
    if 1 not in sections or 2 not in sections:
        raise CircuitError(f"{r1cs} has no R1CS header or constraints")
    at = sections[1][0]
    field_size = struct.unpack_from("<I", data, at)[0]
    at += 4 + field_size
    _wires, outputs, inputs, _private, _labels, constraints = struct.unpack_from("<IIIIQI", data, at)
    gates, offset = outputs + inputs, sections[2][0]
    for _ in range(constraints):
        a, offset = _read_lc(data, offset, field_size)
        b, offset = _read_lc(data, offset, field_size)
        c, offset = _read_lc(data, offset, field_size)
        gates += _gates(a, b, c)
    return gates


def domain_power(name: str, gates: int) -> int:
    """The power of two of the PLONK or FFLONK evaluation domain for ``gates`` gates (as snarkjs sizes it)."""
    needed = gates - 1 if name == "plonk" else gates + 1
    return max(MIN_DOMAIN_POWER, needed.bit_length())


def universal_ptau_power(name: str, gates: int) -> int:
    """The smallest powers-of-tau power a PLONK or FFLONK setup of ``gates`` gates accepts."""
    domain = domain_power(name, gates)
    if name == "plonk":
        return domain
    g1_points = 9 * 2**domain + 18
    return max(MIN_DOMAIN_POWER, g1_points.bit_length() - 1)
