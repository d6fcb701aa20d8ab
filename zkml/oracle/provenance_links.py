"""The workspace half of a provenance walk: compiled verifier, verifying key, keys, settings, model id, SRS, ONNX.

Each function reads a workspace's files and its manifest and returns one
:class:`Link`, checked or broken with the values it compared. The workspace is
read through :class:`WorkspaceFiles`, never :class:`zkml.workspace.Workspace`
(which creates the folder and deletes stale temporaries): a walk writes nothing.

What the links prove, and what they do not:

- *compiled verifier*: the code on chain is byte for byte (sha256 of the runtime)
  the verifier this workspace compiled. This one is cryptographic.
- *verifying key*: the compiled verifier's record names this ``vk.key`` (and
  settings) by sha256. ezkl bakes the vk into the Solidity, so a verifier made for
  another key would have other code; the record says which key it was.
- *keys*, *settings*, *srs*, *onnx*: the manifest's records (sha256 of each
  output, and each stage's fingerprint recomputed from the hashes of what it
  consumed) agree with the files. They show the workspace is one consistent
  build from this ONNX, settings and SRS, as the pipeline recorded it. The
  records are the pipeline's own, not signatures: whoever can write the folder
  can rewrite them (a swapped model.onnx with its records rewritten passes). ezkl's
  compiled circuit is not byte-reproducible (two compilations of one ONNX differ),
  but the vk made from it is: :mod:`zkml.oracle.rederive` (``--rederive``)
  recompiles and compares the vk and the verifier instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.artifacts import sha256_file
from zkml.errors import EvmError, ZkmlError
from zkml.workspace import Layout, fingerprint, read_manifest

if TYPE_CHECKING:
    from zkml.evm.verifier import VerifierArtifact

OK, WARNING, BROKEN = "ok", "warning", "broken"


@dataclass(frozen=True)
class Link:
    """One link of a provenance walk.

    Attributes:
        name: what it links (``verifier code``, ``srs``, ...).
        status: ``ok``, ``warning`` (checked, with a caveat that does not fail the walk) or ``broken``.
        detail: one line: what was checked, or why it broke.
        expected, actual: the values compared when it broke (None otherwise).
    """

    name: str
    status: str
    detail: str
    expected: str | None = None
    actual: str | None = None

    @property
    def ok(self) -> bool:
        """Not broken (a warning passes)."""
        return self.status != BROKEN

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"name": self.name, "status": self.status, "detail": self.detail, "expected": self.expected, "actual": self.actual}


@dataclass(frozen=True)
class Check:
    """One comparison inside a link: ``actual`` (called ``what``) must equal ``expected`` (called ``against``)."""

    what: str
    actual: object
    against: str
    expected: object


def short(value: object, width: int = 12) -> str:
    """A digest or address shortened for a human line (``0x12ab34cd…``)."""
    text = "0x" + bytes(value).hex() if isinstance(value, bytes) else str(value)
    return text if len(text) <= width + 1 else text[:width] + "…"


def verdict(name: str, checks: Sequence[Check], ok_detail: str) -> Link:
    """``ok`` with ``ok_detail`` when every check agrees, else ``broken`` at the first that does not."""
    for c in checks:
        if c.actual != c.expected:
            detail = f"{c.what} {short(c.actual)} != {c.against} {short(c.expected)}"
            return Link(name, BROKEN, detail, expected=str(c.expected), actual=str(c.actual))
    return Link(name, OK, ok_detail)


def broken(name: str, detail: str, *, expected: object = None, actual: object = None) -> Link:
    """A broken link with a one-line reason."""
    return Link(name, BROKEN, detail, None if expected is None else str(expected), None if actual is None else str(actual))


class WorkspaceFiles:
    """A workspace folder read for a walk: its manifest, and each file's sha256 computed once (keys are large)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.layout = Layout(self.root)
        self.manifest: dict[str, Any] = read_manifest(self.root) or {}
        self._digests: dict[Path, str | None] = {}

    def sha256(self, path: Path) -> str | None:
        """The file's sha256, None when it does not exist."""
        path = Path(path)
        if path not in self._digests:
            self._digests[path] = sha256_file(path) if path.is_file() else None
        return self._digests[path]

    def stage(self, name: str) -> dict[str, Any]:
        """The manifest entry of a stage ({} when it never ran)."""
        return dict((self.manifest.get("stages") or {}).get(name) or {})

    def recorded(self, stage: str, output: str) -> str | None:
        """The sha256 the manifest records for one output of a stage."""
        return ((self.stage(stage).get("outputs") or {}).get(output) or {}).get("sha256")

    def info(self, key: str) -> Any:
        """Top-level manifest information (``srs``, ``tools``, ``circuit``)."""
        return (self.manifest.get("info") or {}).get(key)

    def keys_binding(self) -> dict[str, Any]:
        """``keys.json``: the circuit and SRS the keys were made from ({} when unreadable)."""
        try:
            data = json.loads(self.layout.keys_binding.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def ezkl(self) -> Any:
        """The ezkl version the manifest records (a part of every stage fingerprint)."""
        return (self.info("tools") or {}).get("ezkl")


def is_workspace(folder: Path) -> bool:
    """A folder zkml built: a manifest, a verifying key and settings."""
    layout = Layout(folder)
    return layout.manifest.is_file() and layout.vk.is_file() and layout.settings.is_file()


def candidate_workspaces(roots: Sequence[Path]) -> list[Path]:
    """Each root that is a workspace, else the workspaces directly inside it (``build/*/``)."""
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if is_workspace(root):
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(d for d in root.iterdir() if d.is_dir() and is_workspace(d)))
    return found


def find_workspace(candidates: Sequence[Path], model_id: bytes, source: str | None, runtime_sha256: str | None) -> tuple[Path | None, str]:
    """The workspace a prediction's model came from, and how it was recognised.

    First by its default model id (vk, settings and the registered feature source), then,
    for a custom model id, by its compiled verifier being the code on chain.
    """
    from zkml.oracle.encoding import default_model_id

    for folder in candidates:
        files = WorkspaceFiles(folder)
        vk, settings = files.sha256(files.layout.vk), files.sha256(files.layout.settings)
        if vk and settings and default_model_id(vk, settings, source=source) == bytes(model_id):
            return folder, "its default model id is the prediction's"
    for folder in candidates:
        if runtime_sha256 and _compiled_runtime(Layout(folder)) == runtime_sha256:
            return folder, "its compiled verifier is the code on chain"
    return None, ""


def _compiled_runtime(layout: Layout) -> str | None:
    from zkml.evm.verifier import load_verifier

    for reusable in (False, True):
        try:
            return load_verifier(layout.evm_dir(reusable=reusable)).runtime_sha256
        except (EvmError, KeyError, ValueError):
            continue
    return None


def compiled_verifier_link(files: WorkspaceFiles, runtime_sha256: str | None, *, reusable: bool) -> tuple[Link, VerifierArtifact | None]:
    """On-chain code -> the workspace's compiled verifier (runtime sha256 equal); also returns the artifact."""
    from zkml.evm.verifier import load_verifier

    name = "compiled verifier"
    folder = files.layout.evm_dir(reusable=reusable)
    try:
        artifact = load_verifier(folder)
    except (EvmError, KeyError, ValueError) as exc:
        message = exc.message if isinstance(exc, ZkmlError) else f"{folder} holds an unreadable verifier record"
        return broken(name, f"{message} (run `zkml verifier` in that workspace)"), None
    if runtime_sha256 is None:
        return broken(name, "no code at the verifier address to compare", expected=artifact.runtime_sha256), artifact
    check = Check("on-chain runtime sha256", runtime_sha256, f"{folder.relative_to(files.root)} runtime sha256", artifact.runtime_sha256)
    detail = f"runtime sha256 {short(runtime_sha256)} = {folder} ({artifact.runtime_bytes:,} bytes)"
    return verdict(name, [check], detail), artifact


def verifying_key_link(files: WorkspaceFiles, artifact: VerifierArtifact | None, vka_digest: bytes | None) -> Link:
    """Compiled verifier -> vk digest and settings digest (a reusable verifier: the VKA registered for the vk)."""
    name = "verifying key"
    if artifact is None:
        return broken(name, "no compiled verifier to read the vk digest from")
    vk, settings = files.sha256(files.layout.vk), files.sha256(files.layout.settings)
    settings_check = Check("settings.json sha256", settings, "the verifier's settings_sha256", artifact.settings_sha256)
    if vka_digest is None:
        checks = [Check("vk.key sha256", vk, "the verifier's vk_sha256", artifact.vk_sha256), settings_check]
        return verdict(name, checks, f"vk.key sha256 {short(vk)} = the verifier's vk_sha256; settings {short(settings)} too")
    return _vka_link(files, vk, settings, vka_digest, settings_check)


def _vka_link(files: WorkspaceFiles, vk: str | None, settings: str | None, vka_digest: bytes, settings_check: Check) -> Link:
    """The reusable-verifier case: the registered VKA digest is the workspace's VKA, made from its vk."""
    from zkml.evm.verifier import read_vka

    name = "verifying key"
    try:
        vka = read_vka(files.layout.vka)
    except EvmError as exc:
        return broken(name, f"{exc.message} (the model's VKA, `zkml verifier --reusable`)")
    srs = (files.info("srs") or {}).get("sha256")
    parts = fingerprint({"stage": "vka", "vk": vk, "settings": settings, "srs": srs})
    checks = [
        Check("workspace VKA digest", vka.digest, "registered vkaDigest", "0x" + bytes(vka_digest).hex()),
        Check("VKA record fingerprint (vk, settings, srs)", files.stage("vka").get("fingerprint"), "recomputed", parts),
        settings_check,
    ]
    return verdict(name, checks, f"VKA {short(vka.digest)} = registered, made from vk.key {short(vk)}")


def keys_link(files: WorkspaceFiles) -> Link:
    """vk -> keys: the manifest's keys record matches the files, and names the circuit and SRS they came from."""
    layout = files.layout
    if not files.stage("keys"):
        return broken("keys", f"{layout.manifest} records no keys stage")
    binding = files.keys_binding()
    vk, compiled = files.sha256(layout.vk), files.sha256(layout.compiled)
    pk = files.sha256(layout.pk)
    parts = {"stage": "keys", "circuit": binding.get("circuit_sha256"), "srs": binding.get("srs_sha256"), "ezkl": files.ezkl()}
    checks = [
        Check("vk.key sha256", vk, "the keys record's vk", files.recorded("keys", "vk")),
        # The proving key plays no part in verification: an audit copy without it is fine.
        Check("pk.key sha256", pk, "the keys record's pk", files.recorded("keys", "pk") if pk else None),
        Check("keys.json sha256", files.sha256(layout.keys_binding), "the keys record's binding", files.recorded("keys", "binding")),
        Check("keys.json vk_sha256", binding.get("vk_sha256"), "vk.key sha256", vk),
        Check("keys.json circuit_sha256", binding.get("circuit_sha256"), "model.compiled sha256", compiled),
        Check("model.compiled sha256", compiled, "the compile record's", files.recorded("compile", "compiled")),
        Check("keys record fingerprint", files.stage("keys").get("fingerprint"), "recomputed (circuit, srs, ezkl)", fingerprint(parts)),
    ]
    pk_note = f"pk {short(pk)}" if pk else "pk absent (not needed to verify)"
    detail = f"vk {short(vk)}, {pk_note}: made from circuit {short(compiled)} with srs {short(binding.get('srs_sha256'))}"
    return verdict("keys", checks, detail)


def settings_link(files: WorkspaceFiles, artifact: VerifierArtifact | None) -> Link:
    """settings.json matches the calibrate record and the compiled verifier's settings digest."""
    settings = files.sha256(files.layout.settings)
    checks = [Check("settings.json sha256", settings, "the calibrate record's", files.recorded("calibrate", "settings"))]
    if artifact is not None:
        checks.append(Check("settings.json sha256", settings, "the verifier's settings_sha256", artifact.settings_sha256))
    return verdict("settings", checks, f"settings.json sha256 {short(settings)} = calibrate record = verifier record")


def model_id_link(files: WorkspaceFiles, model_id: bytes, source: str | None) -> Link:
    """The model id recomputed from the vk, settings and registered source equals the prediction's.

    A different id is a WARNING, not a break: the owner may register keys under a custom id
    (an upgrade path, a name). The id is only a label consumers pin; what binds the prediction
    to these keys is the registered code hash (verifier code), the code being this workspace's
    compiled verifier (compiled verifier) and that verifier's vk (verifying key), each checked
    by its own link. So a custom id leaves nothing unchecked but the label's derivation, and the
    walk shows it instead of failing on it.
    """
    from zkml.oracle.encoding import default_model_id, hex32

    vk, settings = files.sha256(files.layout.vk), files.sha256(files.layout.settings)
    if not vk or not settings:
        return broken("model id", "the workspace has no vk.key or settings.json to derive the id from")
    derived = default_model_id(vk, settings, source=source)
    if derived == bytes(model_id):
        mode = f"source {source}" if source else "unattested"
        return Link("model id", OK, f"{short(model_id)} = default_model_id(vk, settings, {mode})")
    detail = f"unverifiable: custom model id {short(model_id)} (this workspace's default id is {short(derived)})"
    return Link("model id", WARNING, detail, expected=hex32(derived), actual=hex32(model_id))


def srs_link(files: WorkspaceFiles, *, dev_chain: bool, chain_id: int) -> Link:
    """The recorded SRS file hashes to its record and to the SRS the keys were made with; and is it safe for the chain."""
    from zkml.srs import record_unsafe_reason

    record = dict(files.info("srs") or {})
    if not record.get("path"):
        return broken("srs", f"{files.layout.manifest} records no SRS")
    path = Path(record["path"])
    actual = files.sha256(path)
    if actual is None:
        return broken("srs", f"the recorded SRS file {path} does not exist", expected=record.get("sha256"))
    keys_srs = files.keys_binding().get("srs_sha256")
    checks = [
        Check("file sha256", actual, "its record's", record.get("sha256")),
        Check("file sha256", actual, "keys' srs sha256", keys_srs),
    ]
    link = verdict("srs", checks, f"{path.name} sha256 {short(actual)} = record = keys' srs")
    if not link.ok:
        return link
    reason = record_unsafe_reason(record)
    if reason is None:
        return Link("srs", OK, f"{link.detail}; imported, sha256 pinned")
    if dev_chain:
        return Link("srs", OK, f"{link.detail}; {reason}: DEVELOPMENT ONLY (fine on dev chain {chain_id}, never on a public one)")
    return broken("srs", f"{reason} SRS on chain {chain_id}: whoever generated it can forge proofs", expected="pinned", actual=reason)


def onnx_link(files: WorkspaceFiles) -> Link:
    """The ONNX matches its export record, and the compiled circuit's record was made from it (fingerprint recomputed)."""
    layout = files.layout
    onnx, settings, compiled = files.sha256(layout.onnx), files.sha256(layout.settings), files.sha256(layout.compiled)
    head = [
        Check("model.onnx sha256", onnx, "the export record's", files.recorded("export", "model")),
        Check("model.compiled sha256", compiled, "the compile record's", files.recorded("compile", "compiled")),
    ]
    link = verdict("onnx", head, "")
    if not link.ok:
        return link
    recorded = files.stage("compile").get("fingerprint")
    for data in _fidelity_data(files):
        parts = {"stage": "compile", "model": onnx, "settings": settings, "fidelity_data": files.sha256(data), "ezkl": files.ezkl()}
        if fingerprint(parts) == recorded:
            return Link("onnx", OK, f"model.onnx sha256 {short(onnx)} = export record; the circuit {short(compiled)} was compiled from it")
    return broken(
        "onnx",
        "the compile record's fingerprint does not cite this model.onnx and settings.json (rebuilt since? run `zkml compile`)",
        expected=recorded,
        actual=f"model {onnx}, settings {settings}",
    )


def _fidelity_data(files: WorkspaceFiles) -> list[Path]:
    """The files the compile stage may have measured fidelity on: the config's holdout, else the calibration samples."""
    found = []
    toml = (files.info("circuit") or {}).get("toml")
    if toml:
        from zkml.config import load_config

        try:
            holdout = load_config(Path(toml)).holdout
        except (ZkmlError, OSError):
            holdout = None
        if holdout is not None and Path(holdout).is_file():
            found.append(Path(holdout))
    if files.layout.calibration.is_file():
        found.append(files.layout.calibration)
    return found


def workspace_links(
    files: WorkspaceFiles, *, runtime_sha256: str | None, model_id: bytes, source: str | None, vka_digest: bytes | None,
    dev_chain: bool, chain_id: int,
) -> list[Link]:  # fmt: skip
    """Links 4 to 9: compiled verifier, verifying key, keys, settings, model id, SRS, ONNX, in that order."""
    verifier, artifact = compiled_verifier_link(files, runtime_sha256, reusable=vka_digest is not None)
    return [
        verifier,
        verifying_key_link(files, artifact, vka_digest),
        keys_link(files),
        settings_link(files, artifact),
        model_id_link(files, model_id, source),
        srs_link(files, dev_chain=dev_chain, chain_id=chain_id),
        onnx_link(files),
    ]


WORKSPACE_LINKS = ("compiled verifier", "verifying key", "keys", "settings", "model id", "srs", "onnx")

__all__ = [
    "BROKEN",
    "OK",
    "WARNING",
    "WORKSPACE_LINKS",
    "Check",
    "Link",
    "WorkspaceFiles",
    "broken",
    "candidate_workspaces",
    "compiled_verifier_link",
    "find_workspace",
    "keys_link",
    "model_id_link",
    "onnx_link",
    "settings_link",
    "short",
    "srs_link",
    "verdict",
    "verifying_key_link",
    "workspace_links",
]
