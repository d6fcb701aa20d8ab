"""Helpers the tests share (never imported by the library)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# anvil's first well-known dev key: funded on every anvil, worthless anywhere else.
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


# The tiny session circuit's [circuit] pins (tests/conftest.py): the decomposition `zkml tune` picks for
# small models, so logrows 11 instead of ezkl's default 15. A child process rebuilding it must use the same.
TINY_CIRCUIT = {"decomp_base": 1024, "decomp_legs": 3}


def make_tiny_onnx(path: Path, inputs: int = 4, outputs: int = 2, seed: int = 1) -> Path:
    """A small linear+ReLU model written with torch, different from the MLP example."""
    import torch

    from zkml.export import export_model

    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(inputs, 6), torch.nn.ReLU(), torch.nn.Linear(6, outputs))
    export_model(module, path, example_input=torch.randn(1, inputs))
    return path


def flip_proof_byte(source: Path, dest: Path, index: int = 100) -> None:
    """Write a copy of a proof with one byte of the proof flipped (a forgery that must not verify)."""
    data: dict[str, Any] = json.loads(Path(source).read_text())
    raw = bytearray(bytes.fromhex(str(data["hex_proof"]).removeprefix("0x")))
    raw[index] ^= 0x01
    data["hex_proof"] = "0x" + raw.hex()
    data["proof"] = list(raw)
    Path(dest).write_text(json.dumps(data))


def public_instances(proof: Any) -> list[list[str]]:
    """A proof's public instances (what two proofs of the same input share; proof bytes differ)."""
    data = json.loads(Path(proof.path).read_text())
    return [list(column) for column in data.get("instances", [])]
