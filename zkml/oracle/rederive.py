"""The re-derived half of a provenance walk (``zkml provenance --rederive``): recompute, do not read records.

The fast walk's *onnx* link reads the workspace manifest: model.onnx hashes to its
export record, and the compile record's fingerprint cites it. Whoever can write
the folder can rewrite both, so a swapped model.onnx with a rewritten manifest
walks green. These links recompute instead, in a scratch folder (the workspace
is never written):

- *rederived vk*: model.onnx and settings.json compiled again (ezkl), then set up
  with the SRS the workspace pinned (its file must hash to the pinned sha256). The
  compiled circuit itself is not byte-reproducible (two compilations of one ONNX
  differ), but the verifying key made from it is, so the vk is what is compared:
  with the workspace's ``vk.key``. With fixed parameters the weights are in the vk,
  so other weights give another vk.
- *rederived verifier*: the Solidity verifier rendered from that vk and compiled
  with the compiler and settings the workspace's verifier record names; its runtime
  code's sha256 is compared with the code at the registered verifier on chain (and,
  for a reusable verifier, the VKA made from the vk with the registered VKA digest).

What they still trust: ezkl and solc themselves, and the SRS file pinned by sha256.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.errors import ZkmlError
from zkml.oracle.provenance_links import Check, Link, WorkspaceFiles, broken, short, verdict

REDERIVE_LINKS = ("rederived vk", "rederived verifier")

TRUSTS_FAST = (
    "the workspace manifest for the ONNX -> circuit -> vk link (model.onnx is checked against its records, "
    "not recompiled); run with --rederive to recompute it"
)
TRUSTS_REDERIVE = (
    "ezkl, solc and the SRS file pinned by sha256: the vk and the verifier were recomputed from "
    "model.onnx and settings.json and compared with vk.key and the code on chain"
)


@dataclass(frozen=True)
class _Pinned:
    """The SRS the workspace pinned: its file, digest, size and provenance, checked before use."""

    path: Path
    sha256: str
    record: dict[str, Any]


def _pinned_srs(files: WorkspaceFiles) -> _Pinned | str:
    """The pinned SRS, or why it cannot be used (then nothing can be re-derived)."""
    record = dict(files.info("srs") or {})
    if not record.get("path") or not record.get("sha256"):
        return f"{files.layout.manifest} pins no SRS"
    path = Path(record["path"])
    actual = files.sha256(path)
    if actual is None:
        return f"the pinned SRS file {path} does not exist"
    if actual != record["sha256"]:
        return f"the SRS file {path} sha256 {short(actual)} is not the pinned {short(record['sha256'])}"
    return _Pinned(path, actual, record)


def _rederive_vk(files: WorkspaceFiles, srs: _Pinned, scratch: Path) -> tuple[Link, Path | None]:
    """model.onnx + settings.json -> compiled again -> set up with the pinned SRS: the vk equals vk.key."""
    from zkml.artifacts import OnnxModel, Srs
    from zkml.circuit import compile_circuit
    from zkml.estimate import check_setup_fits
    from zkml.keys import setup_keys
    from zkml.settings import read_settings
    from zkml.srs import read_logrows

    name, layout = "rederived vk", files.layout
    onnx = files.sha256(layout.onnx)
    if onnx is None:
        return broken(name, f"no {layout.onnx} to recompile"), None
    start = time.perf_counter()
    try:
        settings = read_settings(layout.settings)
        # compile_circuit reads only the path: ezkl itself checks the graph.
        circuit = compile_circuit(OnnxModel(layout.onnx, onnx, 0, (), ()), settings, scratch / "model.compiled")
        check_setup_fits(layout.settings)
        pinned = Srs(srs.path, srs.sha256, read_logrows(srs.path), srs.record.get("provenance", "imported"), bool(srs.record.get("pinned")))
        keys = setup_keys(circuit, pinned, scratch)
    except ZkmlError as exc:
        return broken(name, f"model.onnx + settings.json do not re-derive a vk: {exc.message}"), None
    seconds = time.perf_counter() - start
    check = Check(
        "recomputed vk (model.onnx + settings.json + pinned srs)", keys.vk_sha256, "the workspace's vk.key", files.sha256(layout.vk)
    )
    detail = (
        f"model.onnx {short(onnx)} compiled again and set up with srs {short(srs.sha256)}: "
        f"vk {short(keys.vk_sha256)} = vk.key ({seconds:.1f} s)"
    )
    return verdict(name, [check], detail), keys.vk_path


def _rederive_verifier(
    files: WorkspaceFiles, vk: Path, srs: _Pinned, scratch: Path, runtime_sha256: str | None, vka_digest: bytes | None
) -> Link:
    """The re-derived vk -> a verifier rendered and compiled again: its runtime code is the code on chain."""
    from zkml.evm.solc import find_compiler
    from zkml.evm.verifier import create_vka, generate_verifier, load_verifier

    name, reusable = "rederived verifier", vka_digest is not None
    start = time.perf_counter()
    try:
        # The compiler and its settings are part of the build, not of the trust: other ones give other
        # code, which the comparison with the chain then refuses.
        recorded = load_verifier(files.layout.evm_dir(reusable=reusable)).compiler
        compiler = find_compiler(kind=recorded.kind)
        artifact = generate_verifier(
            vk, files.layout.settings, srs.path, scratch / "evm", reusable=reusable, compiler=compiler,
            optimizer_runs=recorded.optimizer_runs, evm_version=recorded.evm_version,
        )  # fmt: skip
        vka = create_vka(vk, files.layout.settings, srs.path, scratch / "model.vka") if reusable else None
    except ZkmlError as exc:
        return broken(name, f"cannot re-derive the verifier from the recomputed vk: {exc.message}")
    seconds = time.perf_counter() - start
    if runtime_sha256 is None:
        return broken(name, "no code at the verifier address to compare", expected=artifact.runtime_sha256)
    checks = [Check("code on chain, runtime sha256", runtime_sha256, "the rederived verifier's", artifact.runtime_sha256)]
    if vka is not None and vka_digest is not None:
        checks.append(Check("registered vkaDigest", "0x" + bytes(vka_digest).hex(), "the rederived VKA's", vka.digest))
    same = compiler.short_version == recorded.version.split("+", 1)[0]
    version = recorded.version if same else f"{compiler.version} (the verifier record names {recorded.version})"
    detail = (
        f"rendered from the recomputed vk, compiled with {compiler.kind} {version}: runtime sha256 "
        f"{short(artifact.runtime_sha256)} = the code on chain ({artifact.runtime_bytes:,} bytes, {seconds:.1f} s)"
    )
    return verdict(name, checks, detail)


def rederive_links(files: WorkspaceFiles, *, runtime_sha256: str | None, vka_digest: bytes | None) -> list[Link]:
    """Recompute the vk from model.onnx and settings.json, and the verifier from that vk; compare with the workspace and chain.

    Args:
        files: the workspace.
        runtime_sha256: sha256 of the runtime code at the registered verifier (None: no code there).
        vka_digest: the registered VKA digest of a reusable verifier (None: a plain verifier).

    Returns:
        The ``rederived vk`` and ``rederived verifier`` links, in that order.
    """
    srs = _pinned_srs(files)
    if isinstance(srs, str):
        return [broken(link, f"unchecked: {srs}") for link in REDERIVE_LINKS]
    with tempfile.TemporaryDirectory(prefix="zkml-rederive-") as tmp:
        scratch = Path(tmp)
        vk_link, vk = _rederive_vk(files, srs, scratch)
        if vk is None:
            return [vk_link, broken("rederived verifier", "unchecked: no recomputed vk to render it from")]
        return [vk_link, _rederive_verifier(files, vk, srs, scratch, runtime_sha256, vka_digest)]


__all__ = ["REDERIVE_LINKS", "TRUSTS_FAST", "TRUSTS_REDERIVE", "rederive_links"]
