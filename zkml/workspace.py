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
and the manifest is written only after the outputs it describes.
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
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
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


def write_json_atomic(path: Path, payload: Any) -> None:
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


class Workspace:
    """A build folder (``build/<circuit>/``) with its manifest."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _wrap_os_error(exc, self.root) from exc
        if not os.access(self.root, os.W_OK):
            raise WorkspaceError(f"build folder {self.root} is not writable", hint="choose another with --build-dir")
        self.manifest_path = self.root / MANIFEST_NAME
        self._manifest = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"version": MANIFEST_VERSION, "stages": {}, "info": {}}
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError) as exc:
            # A corrupt manifest proves nothing is current: start over rather than trust it.
            log.warning("manifest %s is unreadable (%s); every stage will run again", self.manifest_path, exc)
            return {"version": MANIFEST_VERSION, "stages": {}, "info": {}}
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            log.warning("manifest %s has an unknown format; every stage will run again", self.manifest_path)
            return {"version": MANIFEST_VERSION, "stages": {}, "info": {}}
        data.setdefault("stages", {})
        data.setdefault("info", {})
        return data

    def path(self, name: str) -> Path:
        """Where a named artifact lives in this workspace."""
        return self.root / name

    @property
    def manifest(self) -> dict[str, Any]:
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

    def set_info(self, key: str, value: Any) -> None:
        """Store top-level information (tool versions, SRS provenance, settings)."""
        self._manifest["info"][key] = value
        self.save()

    def info(self, key: str, default: Any = None) -> Any:
        """Read top-level information."""
        return self._manifest["info"].get(key, default)

    def save(self) -> None:
        """Write the manifest atomically."""
        write_json_atomic(self.manifest_path, self._manifest)
