"""The per-circuit build folder and its manifest.

``manifest.json`` records, for every stage that ran, a fingerprint of what it
consumed (input hashes, the config that matters, tool versions) and the path
and sha256 of each file it produced. A stage is *current* when its fingerprint
is unchanged and every output still hashes to what was recorded; then the
pipeline reuses it. Changing an input changes the fingerprint of the stage that
reads it, which changes that stage's outputs' hashes, which changes the next
fingerprint: exactly the downstream stages are invalidated.

All writes are atomic (temp file in the same folder, then ``os.replace``), so an
interrupted run leaves either the old file or the new one, never half of one,
and the manifest is written only after the outputs it describes. A run killed
mid-write leaves only ``.<name>.*.part`` temporaries, which the next
:class:`Workspace` clears when it opens the folder.

This module owns every file name of a workspace (:class:`Layout`) and the user
cache folder (:func:`cache_dir`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.artifacts import sha256_bytes, sha256_file
from zkml.errors import WorkspaceError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
# The model's verifying-key artifact, beside the reusable verifier it registers on.
VKA_NAME = "model.vka"
CACHE_ENV = "ZKML_CACHE_DIR"
# File names that say nothing about the model (ezkl's examples are all network.onnx):
# a workspace named after them would be shared by every such model.
GENERIC_MODEL_STEMS = frozenset(
    {"network", "model", "net", "graph", "export", "exported", "main", "onnx", "output", "out", "final", "best", "checkpoint", "module"}
)
# A batched circuit's workspace is a folder of its batch-1 workspace: build/<circuit>/batch-<B>.
BATCH_DIR_PREFIX = "batch-"
# The circuit-info keys that identify which model a workspace belongs to, most specific first.
_IDENTITY_KEYS = ("toml", "onnx", "factory")


def cache_dir() -> Path:
    """zkml's user cache folder: ``$ZKML_CACHE_DIR`` (``~`` expanded), else platformdirs' user cache.

    The SRS files, compiled contracts, the ``zkml chain up`` state and the Ray
    worker artifacts all live under it.
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("zkml"))


def workspace_name(model_path: Path) -> str:
    """The workspace name for a model file: its stem, or its folder's name when the stem is generic.

    ``zoo/lstm/network.onnx`` gives ``lstm``; ``zoo/lstm.onnx`` gives ``lstm``.
    A generic name in a generic (or root) folder gives ``folder_stem``, still
    distinct per folder.
    """
    path = Path(model_path).resolve()
    stem = path.stem
    if stem.lower() not in GENERIC_MODEL_STEMS:
        return stem
    folder = path.parent.name
    if folder and folder.lower() not in GENERIC_MODEL_STEMS:
        return folder
    return f"{path.parent.parent.name or 'root'}_{folder or 'root'}_{stem}".strip("_")


def _wrap_os_error(exc: OSError, path: Path) -> WorkspaceError:
    if exc.errno == errno.ENOSPC:
        return WorkspaceError(f"disk full while writing {path}", hint="free some space and run again; nothing half-written was kept")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return WorkspaceError(f"cannot write {path}: permission denied", hint="choose a writable build folder with --build-dir")
    return WorkspaceError(f"cannot write {path}: {exc.strerror or exc}", hint="check the build folder")


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it into place only on success.

    Used around ezkl calls that write files themselves (keys, proofs): if the
    call fails or the process dies, ``final`` is untouched.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".part", dir=final.parent)
        os.close(fd)
    except OSError as exc:
        raise _wrap_os_error(exc, final) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp makes 0600 files; give the final file the usual umask-based mode.
            os.chmod(tmp, 0o666 & ~_umask())
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise WorkspaceError(f"nothing was written for {final}", hint="see the log (--debug) for the tool's own output")
        os.replace(tmp, final)
    except OSError as exc:
        raise _wrap_os_error(exc, final) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` atomically."""
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise _wrap_os_error(exc, path) from exc


def write_json_atomic(path: Path, payload: object) -> None:
    """Write JSON to ``path`` atomically, pretty-printed and key-sorted for diffs."""
    write_bytes_atomic(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A stable hash of a stage's inputs (JSON-serialisable)."""
    return sha256_bytes(json.dumps(parts, sort_keys=True, default=str).encode())


@dataclass(frozen=True)
class RecordedFile:
    """One output file as the manifest remembers it."""

    path: Path
    sha256: str


class _File:
    """A file name in a :class:`Layout`; reads as the file's path under the layout's root."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc

    def __get__(self, layout: Layout, owner: type | None = None) -> Path:
        return layout.root / self.name


class Layout:
    """Where each artifact lives in a circuit folder: the one owner of workspace file names.

    A :class:`Workspace` is a layout with a manifest; stage functions that are
    handed a bare folder (keys, a batched circuit, a tuner candidate) use a
    layout of that folder, so the names are the same everywhere.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        """Where a named artifact lives in this folder."""
        return self.root / name

    manifest = _File(MANIFEST_NAME, "What each stage made, with hashes and fingerprints.")
    onnx = _File("model.onnx", "The exported ONNX model.")
    reference = _File("reference.json", "Float reference outputs of the sample input.")
    generated_input = _File("generated_input.json", "A seeded sample for a bare ONNX.")
    calibration = _File("calibration.json", "The calibration samples used.")
    settings = _File("settings.json", "ezkl's circuit settings.")
    compiled = _File("model.compiled", "The compiled circuit.")
    fidelity = _File("fidelity.json", "Float vs circuit outputs on held-out data.")
    pk = _File("pk.key", "The proving key.")
    vk = _File("vk.key", "The verifying key.")
    keys_binding = _File("keys.json", "Which circuit and SRS the keys belong to.")
    input = _File("input.json", "The input last proved.")
    witness = _File("witness.json", "The witness of the input last proved.")
    proof = _File("proof.json", "The proof of the input last proved.")
    deployments = _File("deployments.json", "Contracts deployed from this folder, per chain.")
    batch_stamp = _File("batch.json", "A batched circuit's batch size and inputs digest.")
    batch_example = _File("example_batch.json", "A batched circuit's default batch: the circuit's example samples.")
    tuned = _File("tuned.json", "The settings `zkml tune` chose.")
    fidelity_report = _File("fidelity_report.json", "The fidelity report (`zkml report`).")
    fidelity_plot = _File("fidelity_report.png", "The fidelity report's plot.")
    tune_dir = _File("tune", "The tuner's candidates.")
    tune_candidates = _File("tune_candidates.json", "Every candidate the tuner measured.")
    tune_fidelity = _File("tune_fidelity.json", "The tuned circuit's fidelity (fidelity.json schema).")
    revalidated = _File("revalidated.json", "Whether tuned settings still meet their budget on changed weights (cached verdict).")

    def batch_dir(self, batch_size: int) -> Path:
        """Where this circuit's batch-``batch_size`` version lives (its own workspace); the folder itself for 1."""
        return self.root if batch_size == 1 else self.root / f"{BATCH_DIR_PREFIX}{batch_size}"

    def evm_dir(self, *, reusable: bool = False) -> Path:
        """The folder of the plain or the reusable Solidity verifier."""
        return self.root / "evm" / ("reusable" if reusable else "plain")

    @property
    def vka(self) -> Path:
        """The model's verifying-key artifact for the reusable verifier."""
        return self.evm_dir(reusable=True) / VKA_NAME


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _identity(circuit: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, resolved source) of a circuit-info record, or None when it names no source."""
    for key in _IDENTITY_KEYS:
        value = circuit.get(key)
        if value:
            where = str(value)
            if key == "factory":
                file_part, _, func = where.rpartition(":")
                return key, f"{Path(file_part).resolve()}:{func}"
            return key, str(Path(where).resolve())
    return None


def clear_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the ``.<name>.<pid>.*.part`` files of writers that died (keys are 100+ MB each).

    :func:`atomic_path` puts the writer's pid in each temporary's name, so a file
    whose writer is still alive (another run in the same folder) is kept, and one
    left by a killed run goes. Returns what was deleted.
    """
    removed = []
    for path in Path(folder).glob(".*.part"):
        pid = path.name.removesuffix(".part").split(".")[-2]
        if pid.isdigit() and _pid_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run in %s", len(removed), folder)
    return removed


def read_manifest(root: Path) -> dict[str, Any] | None:
    """A workspace folder's manifest, read without creating or changing anything.

    Returns:
        The manifest (with ``stages`` and ``info`` present), or None when the folder has
        none, it is unreadable, or it is of another format version.
    """
    try:
        data = json.loads((Path(root) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        return None
    data.setdefault("stages", {})
    data.setdefault("info", {})
    return data


class Workspace(Layout):
    """A build folder (``build/<circuit>/``) with its manifest."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _wrap_os_error(exc, self.root) from exc
        if not os.access(self.root, os.W_OK):
            raise WorkspaceError(f"build folder {self.root} is not writable", hint="choose another with --build-dir")
        clear_stale_temporaries(self.root)
        self.manifest_path = self.root / MANIFEST_NAME
        self._manifest = self._load()

    def _load(self) -> dict[str, Any]:
        data = read_manifest(self.root)
        if data is None:
            if self.manifest_path.exists():
                # A corrupt manifest proves nothing is current: start over rather than trust it.
                log.warning("manifest %s is unreadable or of an unknown format; every stage will run again", self.manifest_path)
            return {"version": MANIFEST_VERSION, "stages": {}, "info": {}}
        return data

    @property
    def manifest_data(self) -> dict[str, Any]:
        """A copy of the manifest as loaded or last saved."""
        return json.loads(json.dumps(self._manifest))

    def stage(self, stage: str) -> dict[str, Any] | None:
        """The manifest entry of a stage, if it ever ran."""
        entry = self._manifest["stages"].get(stage)
        return dict(entry) if entry else None

    def current_outputs(self, stage: str, stage_fingerprint: str) -> dict[str, RecordedFile] | None:
        """The recorded outputs of ``stage`` if they are still current, else None.

        Current means: same fingerprint, and each output exists and hashes to its
        recorded sha256 (so a key that was edited, truncated or swapped is not reused).
        """
        entry = self._manifest["stages"].get(stage)
        if not entry or entry.get("fingerprint") != stage_fingerprint:
            return None
        outputs: dict[str, RecordedFile] = {}
        for name, rec in entry.get("outputs", {}).items():
            path = self._resolve(rec["path"])
            if not path.is_file() or sha256_file(path) != rec["sha256"]:
                log.info("stage %s: %s changed on disk; running it again", stage, path)
                return None
            outputs[name] = RecordedFile(path, rec["sha256"])
        return outputs

    def _resolve(self, recorded: str) -> Path:
        path = Path(recorded)
        return path if path.is_absolute() else self.root / path

    def _relative(self, path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(Path(path).resolve())

    def record(
        self,
        stage: str,
        stage_fingerprint: str,
        outputs: Mapping[str, Path],
        *,
        seconds: float,
        details: Mapping[str, Any] | None = None,
        hashes: Mapping[str, str] | None = None,
    ) -> dict[str, RecordedFile]:
        """Record that ``stage`` produced ``outputs``; later stages are left alone.

        Later stages need no explicit invalidation: their fingerprints include
        these outputs' hashes, so they stop matching by themselves.
        """
        known = dict(hashes or {})
        recorded: dict[str, RecordedFile] = {}
        entry_outputs: dict[str, dict[str, str]] = {}
        for name, path in outputs.items():
            digest = known.get(name) or sha256_file(path)
            recorded[name] = RecordedFile(Path(path), digest)
            entry_outputs[name] = {"path": self._relative(path), "sha256": digest}
        self._manifest["stages"][stage] = {
            "fingerprint": stage_fingerprint,
            "outputs": entry_outputs,
            "seconds": round(seconds, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "details": dict(details or {}),
        }
        self.save()
        return recorded

    def set_info(self, key: str, value: object) -> None:
        """Store top-level information (tool versions, SRS provenance, settings)."""
        self._manifest["info"][key] = value
        self.save()

    def claim(self, circuit: Mapping[str, Any]) -> None:
        """Record which model this workspace builds, refusing one that another model's build already holds.

        Args:
            circuit: the circuit info (``name``, ``root``, ``task`` and the model's
                source under ``toml``, ``onnx`` or ``factory``).

        Raises:
            WorkspaceError: the workspace was made for a different model source
                (two models must never overwrite each other's keys and proofs).
        """
        recorded = self.info("circuit") or {}
        mine, theirs = _identity(circuit), _identity(recorded)
        if mine is not None and theirs is not None and mine != theirs:
            raise WorkspaceError(
                f"workspace {self.root} belongs to another model ({theirs[0]} {theirs[1]}), not {mine[0]} {mine[1]}",
                hint="give this model its own workspace with --name NAME (or --build-dir), or delete the folder to rebuild it",
            )
        self.set_info("circuit", dict(circuit))

    def info(self, key: str, default: object = None) -> Any:
        """Read top-level information."""
        return self._manifest["info"].get(key, default)

    def save(self) -> None:
        """Write the manifest atomically."""
        write_json_atomic(self.manifest_path, self._manifest)
