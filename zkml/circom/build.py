"""Compile the generated circom circuit and make its keys: Groth16, PLONK or FFLONK.

:func:`compile_model` goes from the ONNX model and ezkl's settings to an R1CS and the
wasm witness generator circom emits; :func:`setup_groth16` makes the per-model phase 2
(zkey) on the cached powers of tau and exports the verification key;
:func:`setup_universal` makes a PLONK or FFLONK zkey from the powers of tau alone.

The powers of tau are an imported ceremony ptau of a sufficient power when one is cached,
else the development one (:func:`zkml.circom.ptau.resolve_ptau`); the keys record which, and
that decides whether :func:`zkml.evm.deploy.check_srs_guard` lets their verifier onto a public
chain. Groth16's phase 2 on a development ptau is a public beacon (development only, like the
ptau); on an imported one it is a contribution from fresh randomness that snarkjs discards:
a phase 2 with only a public beacon has a known delta, which lets anyone forge proofs.
"""

from __future__ import annotations

import json
import logging
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from zkml.artifacts import Srs, sha256_file
from zkml.circom import tools
from zkml.circom.codegen import circom_source
from zkml.circom.graph import QuantizedGraph, ScaleSettings, read_graph
from zkml.circom.ptau import DEV_BEACON, MAX_POWER, power_for, resolve_ptau
from zkml.circom.systems import plonk_gates, system, universal_ptau_power
from zkml.errors import CircuitError, KeysError, SrsError

log = logging.getLogger(__name__)

CIRCUIT_NAME = "model"
# Phase 2's development beacon: public like phase 1's (a different hash, so the two are told apart).
DEV_ZKEY_BEACON = DEV_BEACON[::-1]


@dataclass(frozen=True)
class CircomCircuit:
    """A compiled circom circuit of one model.

    Attributes:
        folder: where its files are (``<workspace>/circom``).
        graph: the quantized graph it proves.
        constraints: R1CS constraints.
        public_signals: public signals (the model's inputs, then its outputs).
        r1cs_sha256: digest of the constraint system (the keys are bound to it).
    """

    folder: Path
    graph: QuantizedGraph
    constraints: int
    public_signals: int
    r1cs_sha256: str

    @property
    def source(self) -> Path:
        return self.folder / f"{CIRCUIT_NAME}.circom"

    @property
    def r1cs(self) -> Path:
        return self.folder / f"{CIRCUIT_NAME}.r1cs"

    @property
    def wasm(self) -> Path:
        return self.folder / f"{CIRCUIT_NAME}_js" / f"{CIRCUIT_NAME}.wasm"


@dataclass(frozen=True)
class SnarkKeys:
    """A circuit's proving key (zkey) and verification key, the ptau they came from, and their proof system."""

    zkey: Path
    vk: Path
    zkey_sha256: str
    vk_sha256: str
    r1cs_sha256: str
    ptau: Srs
    system: str = "groth16"


Groth16Keys = SnarkKeys  # the first milestone's name


def r1cs_counts(path: Path) -> tuple[int, int]:
    """(constraints, public signals) from an ``.r1cs`` file's header section.

    Raises:
        CircuitError: not an R1CS file.
    """
    data = Path(path).read_bytes()
    if data[:4] != b"r1cs":
        raise CircuitError(f"{path} is not an R1CS file")
    offset = 12
    for _ in range(struct.unpack_from("<I", data, 8)[0]):
        kind, size = struct.unpack_from("<IQ", data, offset)
        offset += 12
        if kind == 1:  # header: field size, prime, wires, public outputs, public inputs, private inputs, labels, constraints
            field_size = struct.unpack_from("<I", data, offset)[0]
            at = offset + 4 + field_size
            _wires, outputs, inputs, _private = struct.unpack_from("<IIII", data, at)
            constraints = struct.unpack_from("<I", data, at + 16 + 8)[0]
            return constraints, outputs + inputs
        offset += size
    raise CircuitError(f"{path} has no R1CS header")


def compile_model(onnx_path: Path, settings_path: Path, folder: Path) -> CircomCircuit:
    """Generate the circom circuit for a model at ezkl's scales and compile it (R1CS + wasm witness generator).

    Raises:
        CircuitError: an op or setting the circom backend does not take, or circom failed.
    """
    graph = read_graph(Path(onnx_path), ScaleSettings.read(Path(settings_path)))
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{CIRCUIT_NAME}.circom"
    source.write_text(circom_source(graph))
    # --O1 keeps compilation to seconds; --O2 took ~20x longer here for the same constraint count.
    tools.run(
        "circom2",
        [source.name, "--r1cs", "--wasm", "--O1", "-o", "."],
        doing="compiling the circom circuit",
        error=CircuitError,
        cwd=folder,
    )
    r1cs = folder / f"{CIRCUIT_NAME}.r1cs"
    constraints, public = r1cs_counts(r1cs)
    log.info("circom circuit: %d constraints, %d public signals", constraints, public)
    return CircomCircuit(folder, graph, constraints, public, sha256_file(r1cs))


def setup_groth16(circuit: CircomCircuit) -> SnarkKeys:
    """The per-model Groth16 phase 2 on the imported ptau if one is cached (else the development one).

    Phase 2 is a public development beacon on the development ptau, and a contribution of fresh
    randomness on an imported one (snarkjs mixes its own 64 random bytes in, and keeps none).

    Raises:
        SrsError: the ptau could not be made, or a cached import is corrupt.
        KeysError: snarkjs's setup failed.
    """
    ptau = resolve_ptau(power_for(circuit.constraints, circuit.public_signals))
    folder = circuit.folder
    zkey0, zkey, vk = folder / "model_0000.zkey", folder / "model.zkey", folder / "verification_key.json"
    tools.run("snarkjs", ["groth16", "setup", circuit.r1cs, ptau.path, zkey0], doing="the Groth16 setup", error=KeysError)
    if ptau.provenance == "dev-unsafe":
        phase2: list[str | Path] = ["zkey", "beacon", zkey0, zkey, DEV_ZKEY_BEACON, "10", "-n=zkml dev phase 2"]
        tools.run("snarkjs", phase2, doing="the development phase 2 beacon", error=KeysError)
    else:
        phase2 = ["zkey", "contribute", zkey0, zkey, "-n=zkml phase 2", f"-e={secrets.token_hex(32)}"]
        tools.run("snarkjs", phase2, doing="the phase 2 contribution", error=KeysError)
    zkey0.unlink()
    tools.run("snarkjs", ["zkey", "export", "verificationkey", zkey, vk], doing="exporting the verification key", error=KeysError)
    return _record(SnarkKeys(zkey, vk, sha256_file(zkey), sha256_file(vk), circuit.r1cs_sha256, ptau), folder)


def setup_universal(circuit: CircomCircuit, name: str) -> SnarkKeys:
    """A PLONK or FFLONK zkey from the powers of tau alone (no per-circuit ceremony): imported if cached, else development.

    The ptau is sized by snarkjs's own rule for the system (:mod:`zkml.circom.systems`): FFLONK
    needs 8x PLONK's, which needs 2x Groth16's for mlp_regressor.

    Raises:
        ConfigError: not a universal system.
        SrsError: the circuit needs a ptau above the backend's largest, or it could not be made.
        KeysError: snarkjs's setup failed.
    """
    if not system(name).universal:
        raise KeysError(f"{name} needs a per-circuit setup", hint="use setup_groth16")
    gates = plonk_gates(circuit.r1cs)
    power = universal_ptau_power(name, gates)
    if power > MAX_POWER:
        raise SrsError(
            f"a {name} setup for {gates:,} PLONK gates needs powers of tau 2^{power}, above the circom backend's 2^{MAX_POWER}",
            hint="use groth16 or the halo2 backend",
        )
    ptau = resolve_ptau(power, prepared=name == "plonk")
    folder = circuit.folder
    zkey, vk = folder / f"model.{name}.zkey", folder / f"verification_key.{name}.json"
    tools.run("snarkjs", [name, "setup", circuit.r1cs, ptau.path, zkey], doing=f"the {name} setup", error=KeysError)
    tools.run("snarkjs", ["zkey", "export", "verificationkey", zkey, vk], doing="exporting the verification key", error=KeysError)
    log.info("%s keys: %d PLONK gates, ptau 2^%d", name, gates, power)
    return _record(SnarkKeys(zkey, vk, sha256_file(zkey), sha256_file(vk), circuit.r1cs_sha256, ptau, name), folder)


def _record(keys: SnarkKeys, folder: Path) -> SnarkKeys:
    """Write the keys' provenance beside them (``keys.json``, ``keys.<system>.json`` for the universal ones)."""
    ptau = keys.ptau
    name = "keys.json" if keys.system == "groth16" else f"keys.{keys.system}.json"
    (folder / name).write_text(
        json.dumps(
            {
                "system": keys.system,
                "zkey_sha256": keys.zkey_sha256,
                "vk_sha256": keys.vk_sha256,
                "r1cs_sha256": keys.r1cs_sha256,
                "ptau": {
                    "path": str(ptau.path),
                    "sha256": ptau.sha256,
                    "power": ptau.logrows,
                    "provenance": ptau.provenance,
                    "pinned": ptau.pinned,
                },
                "phase2": _phase2(keys),
                "unsafe_reason": ptau.unsafe_reason,
            },
            indent=2,
        )
    )
    return keys


def _phase2(keys: SnarkKeys) -> str | None:
    """How the per-circuit phase 2 was made (None for the universal systems, which have none)."""
    if keys.system != "groth16":
        return None
    return "public development beacon" if keys.ptau.provenance == "dev-unsafe" else "one contribution of fresh randomness (discarded)"


def setup_keys(circuit: CircomCircuit, name: str = "groth16") -> SnarkKeys:
    """The keys of ``circuit`` for the proof system ``name`` (``groth16``, ``plonk`` or ``fflonk``)."""
    return setup_groth16(circuit) if system(name).name == "groth16" else setup_universal(circuit, name)
