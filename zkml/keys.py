"""Keys: the proving and verifying keys of a circuit, made from an SRS.

Keys are bound to the exact circuit and SRS they came from, and that binding
is written next to them (``keys.json``). It is checked before every use:
ezkl 23 given a proving key of another circuit does not raise, it tries to
allocate ~100 GB and aborts the process, so the check cannot be left to it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from zkml import _ezkl
from zkml.artifacts import CompiledCircuit, Keys, Srs, sha256_file
from zkml.errors import KeysError, SrsError
from zkml.srs import read_logrows
from zkml.workspace import Layout, atomic_path, write_json_atomic

log = logging.getLogger(__name__)


def setup_keys(circuit: CompiledCircuit, srs: Srs, out_dir: Path) -> Keys:
    """Generate ``pk.key`` and ``vk.key`` for ``circuit`` in ``out_dir``.

    Raises:
        SrsError: the SRS is corrupt or too small for the circuit.
        KeysError: ezkl's setup failed.
    """
    out_dir = Path(out_dir)
    srs_logrows = read_logrows(srs.path)
    if srs_logrows < circuit.settings.logrows:
        raise SrsError(
            f"SRS {srs.path.name} has logrows {srs_logrows}, the circuit needs {circuit.settings.logrows}",
            hint=f"use an SRS of logrows >= {circuit.settings.logrows}",
        )
    layout = Layout(out_dir)
    pk_path, vk_path = layout.pk, layout.vk
    with atomic_path(pk_path) as pk_tmp, atomic_path(vk_path) as vk_tmp:
        try:
            _ezkl.call("setup", str(circuit.path), str(vk_tmp), str(pk_tmp), srs_path=str(srs.path))
        except _ezkl.EzklFailure as exc:
            raise KeysError(f"key generation failed: {exc}") from exc
    keys = Keys(pk_path, vk_path, sha256_file(pk_path), sha256_file(vk_path), circuit.sha256, srs.sha256)
    write_binding(keys)
    log.info("keys for %s: pk %d bytes, vk %d bytes", circuit.path.name, pk_path.stat().st_size, vk_path.stat().st_size)
    return keys


def write_binding(keys: Keys) -> None:
    """Record which circuit and SRS the keys belong to, next to them."""
    write_json_atomic(
        Layout(keys.pk_path.parent).keys_binding,
        {
            "pk": keys.pk_path.name,
            "vk": keys.vk_path.name,
            "pk_sha256": keys.pk_sha256,
            "vk_sha256": keys.vk_sha256,
            "circuit_sha256": keys.circuit_sha256,
            "srs_sha256": keys.srs_sha256,
        },
    )


def load_keys(folder: Path, *, verify_hashes: bool = True) -> Keys:
    """Load keys and their binding from ``folder``.

    Raises:
        KeysError: no binding, or the key files changed since they were made.
    """
    folder = Path(folder)
    binding_path = Layout(folder).keys_binding
    try:
        binding = json.loads(binding_path.read_text())
    except (OSError, ValueError) as exc:
        raise KeysError(f"no readable key binding at {binding_path}", hint="run zkml setup to make keys for this circuit") from exc
    keys = Keys(
        pk_path=folder / binding["pk"],
        vk_path=folder / binding["vk"],
        pk_sha256=binding["pk_sha256"],
        vk_sha256=binding["vk_sha256"],
        circuit_sha256=binding["circuit_sha256"],
        srs_sha256=binding["srs_sha256"],
    )
    if verify_hashes:
        for path, expected in ((keys.pk_path, keys.pk_sha256), (keys.vk_path, keys.vk_sha256)):
            if not path.is_file() or sha256_file(path) != expected:
                raise KeysError(f"{path} is missing or changed since setup", hint="run zkml setup again")
    return keys


def check_keys_match(keys: Keys, circuit: CompiledCircuit, srs: Srs | None = None) -> None:
    """Refuse keys made for another circuit (or SRS) before ezkl sees them.

    Raises:
        KeysError: naming what does not match.
    """
    if keys.circuit_sha256 != circuit.sha256:
        raise KeysError(
            f"the keys were made for another circuit (circuit sha256 {keys.circuit_sha256[:12]}…, this one {circuit.sha256[:12]}…)",
            hint="run zkml setup for this circuit",
        )
    if srs is not None and keys.srs_sha256 != srs.sha256:
        raise KeysError(
            f"the keys were made with another SRS (sha256 {keys.srs_sha256[:12]}…, given {srs.sha256[:12]}…)",
            hint="use the SRS the keys were made with, or run zkml setup again",
        )
