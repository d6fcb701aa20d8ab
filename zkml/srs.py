"""Structured reference strings (SRS): a local development one, or an imported one.

Nothing is downloaded. A development SRS is made once per logrows into a user
cache shared by all circuits, from a tau that everyone knows
(:mod:`zkml.dev_srs`): it is only for development and is marked ``dev-unsafe``
wherever it is recorded. Being built on a public tau, it is the same file on
every machine and is recognised from its bytes, whichever cache or machine made
it and whatever it is called. A real deployment imports an SRS file (for
example one derived from the Perpetual Powers of Tau) and pins its sha256. An
SRS imported without a pinned sha256 is *unpinned*: nothing says where it came
from, so it is treated as unsafe exactly like a development one.

A development SRS can never be imported: its second point is the public
``tau * G1`` (:func:`zkml.dev_srs.is_dev_srs`). Caches from before zkml used the
public tau hold development files from ezkl's ``gen_srs`` (a secret but locally
known tau); those are recognised by ``dev_digests.json``, a record of every
development SRS this cache ever generated (kept when the file itself is
deleted, so deleting it does not launder it). Such a file carried to another
machine cannot be told from a ceremony SRS, which is one more reason an
unpinned import counts as unsafe.

The file is halo2's KZG params format: a little-endian u32 ``k``, then 2**k
G1 points in monomial and 2**k in Lagrange form (64 bytes each), then two G2
points (128 bytes each). That fixes the size exactly, which lets a truncated
or wrong file be refused before ezkl reads it.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from zkml import dev_srs
from zkml.artifacts import Srs, SrsProvenance, sha256_file
from zkml.errors import ConfigError, SrsError
from zkml.workspace import atomic_path, cache_dir, read_manifest, write_json_atomic

log = logging.getLogger(__name__)

MAX_LOGROWS = 26
# What a manifest records about an unsafe SRS, by Srs.unsafe_reason.
UNSAFE_WARNINGS = {
    "dev-unsafe": "development only, unsafe: toxic waste known locally",
    "unpinned": "imported without a pinned sha256: origin unknown, treated as unsafe",
}


def srs_dir() -> Path:
    """Where SRS files are cached."""
    return cache_dir() / "srs"


def expected_size(logrows: int) -> int:
    """Exact byte size of a halo2 KZG params file for ``logrows``."""
    return 4 + 2 * 64 * (1 << logrows) + 2 * 128


def read_logrows(path: Path) -> int:
    """Check an SRS file's header and size and return its logrows.

    Raises:
        SrsError: missing, truncated, padded, or not an SRS file at all.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(4)
    except OSError as exc:
        raise SrsError(f"cannot read SRS {path}: {exc.strerror or exc}") from exc
    if len(header) < 4:
        raise SrsError(f"SRS {path} is empty or truncated ({size} bytes)", hint="delete it; zkml makes a new one, or import a good copy")
    (logrows,) = struct.unpack("<I", header)
    if not 1 <= logrows <= MAX_LOGROWS or size != expected_size(logrows):
        raise SrsError(
            f"SRS {path} is corrupt: {size} bytes does not match a KZG SRS (header says logrows {logrows})",
            hint="delete it; zkml makes a new one, or import a good copy",
        )
    return logrows


def _paths(logrows: int, provenance: SrsProvenance) -> tuple[Path, Path]:
    stem = f"kzg{logrows}.{'dev' if provenance == 'dev-unsafe' else 'imported'}"
    return srs_dir() / f"{stem}.srs", srs_dir() / f"{stem}.json"


def _load_cached(logrows: int, provenance: SrsProvenance) -> Srs | None:
    srs_path, meta_path = _paths(logrows, provenance)
    if not srs_path.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    read_logrows(srs_path)
    digest = sha256_file(srs_path)
    if digest != meta.get("sha256"):
        raise SrsError(
            f"cached SRS {srs_path} changed since it was recorded (sha256 {digest[:12]}… != {str(meta.get('sha256'))[:12]}…)",
            hint=f"delete {srs_path} (and {meta_path.name}); it will be made or imported again",
        )
    if provenance == "dev-unsafe":
        # Development files made before the record existed join it the first time they are seen.
        # Best effort here: loading a cached SRS must keep working in a read-only cache.
        try:
            _remember_dev_digest(digest, logrows)
        except (OSError, SrsError) as exc:
            log.warning("could not record development SRS digest %s: %s", digest[:12], exc)
        return Srs(srs_path, digest, logrows, provenance, pinned=False)
    if digest in _recorded_dev_digests() or dev_srs.is_dev_srs(srs_path):
        # Imported before imports were checked: it must not pass for a real SRS.
        raise SrsError(
            f"cached imported SRS {srs_path} is a development SRS (sha256 {digest[:12]}…): its toxic waste is known",
            hint=f"delete {srs_path} and {meta_path.name}, then import a ceremony SRS with zkml srs import FILE --sha256 HEX",
        )
    # A meta written before pinning was recorded has no "pinned": unpinned, the safe reading.
    return Srs(srs_path, digest, logrows, provenance, pinned=meta.get("pinned") is True)


def _digest_record() -> Path:
    return srs_dir() / "dev_digests.json"


def _recorded_dev_digests() -> dict[str, int]:
    """sha256 -> logrows of every development SRS this cache ever generated."""
    try:
        data = json.loads(_digest_record().read_text())
        return {str(k): int(v) for k, v in data["digests"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # Fail closed: without the record a deleted development SRS could be imported.
        raise SrsError(
            f"the development SRS record {_digest_record()} is unreadable ({type(exc).__name__}: {exc})",
            hint="delete it; the cached development SRS files are recorded again when next used",
        ) from exc


def _remember_dev_digest(digest: str, logrows: int) -> None:
    """Add a development SRS digest to the record (append-only, never pruned).

    There is no file lock: two processes recording at once could each replace the
    file with a copy lacking the other's digest, so a writer re-reads and retries
    until its own digest is there.
    """
    for _ in range(5):
        known = _recorded_dev_digests()
        if known.get(digest) == logrows:
            return
        known[digest] = logrows
        write_json_atomic(
            _digest_record(),
            {"note": "every development SRS generated in this cache; a file with one of these digests is never imported", "digests": known},
        )
    if digest not in _recorded_dev_digests():
        raise SrsError(
            f"could not record development SRS digest {digest[:12]}… in {_digest_record()}", hint="retry; another process kept rewriting it"
        )


def _dev_digests(logrows: int) -> set[str]:
    """Digests known to be development SRS files of ``logrows``: the record plus the cached file."""
    known = {d for d, k in _recorded_dev_digests().items() if k == logrows}
    srs_path, meta_path = _paths(logrows, "dev-unsafe")
    try:
        known.add(str(json.loads(meta_path.read_text())["sha256"]))
    except (OSError, ValueError, KeyError, TypeError):
        # No usable meta (e.g. a crash before it was written): hash the file itself.
        if srs_path.is_file():
            known.add(sha256_file(srs_path))
    return known


def cached_srs(logrows: int) -> Srs | None:
    """The cached SRS for exactly ``logrows`` (imported preferred), without making one."""
    return _load_cached(logrows, "imported") or _load_cached(logrows, "dev-unsafe")


def generate_dev_srs(logrows: int) -> Srs:
    """Generate (once) the development SRS for ``logrows`` into the cache.

    Insecure: whoever runs this knows its toxic waste and could forge proofs.

    Raises:
        SrsError: logrows out of range or generation failed.
    """
    if not 1 <= logrows <= MAX_LOGROWS:
        raise SrsError(f"logrows {logrows} is out of range 1..{MAX_LOGROWS}")
    cached = _load_cached(logrows, "dev-unsafe")
    if cached:
        return cached
    srs_path, meta_path = _paths(logrows, "dev-unsafe")
    log.info("generating the development SRS for logrows %d (public tau: insecure, local only)", logrows)

    def progress(done: int, total: int) -> None:
        log.info("development SRS for logrows %d: %d of %d points", logrows, done, total)

    with atomic_path(srs_path) as tmp:
        dev_srs.write_dev_srs(tmp, logrows, progress=progress)
        read_logrows(tmp)
        digest = sha256_file(tmp)
        # Recorded before the file is visible, so no copy of it can predate its record.
        _remember_dev_digest(digest, logrows)
    write_json_atomic(
        meta_path,
        {
            "logrows": logrows,
            "sha256": digest,
            "provenance": "dev-unsafe",
            "warning": "development only, unsafe: toxic waste known locally",
        },
    )
    return Srs(srs_path, digest, logrows, "dev-unsafe", pinned=False)


def import_srs(source: Path, *, sha256: str | None = None) -> Srs:
    """Copy a user-provided SRS into the cache after checking it.

    Args:
        source: a halo2 KZG params file (e.g. derived from the Perpetual Powers of Tau).
        sha256: the digest it must have. Without it the SRS is recorded as
            unpinned, and :attr:`Srs.unsafe` treats it like a development one,
            since an SRS whose origin is not pinned is no better.

    Raises:
        SrsError: wrong digest, a development SRS of this machine, or not a valid SRS file.
    """
    source = Path(source)
    logrows = read_logrows(source)
    digest = sha256_file(source)
    if sha256 is not None and digest != sha256.lower():
        raise SrsError(f"SRS {source} has sha256 {digest}, expected {sha256.lower()}", hint="get the file again from its source")
    if digest in _dev_digests(logrows) or dev_srs.is_dev_srs(source):
        raise SrsError(
            f"SRS {source} is a development SRS (sha256 {digest[:12]}…); its toxic waste is known, so it cannot be imported",
            hint="import an SRS from a public ceremony (e.g. the Perpetual Powers of Tau) with --sha256 HEX; "
            "the development SRS is used automatically where it is allowed",
        )
    srs_path, meta_path = _paths(logrows, "imported")
    # Importing the same file again without --sha256 keeps the pin it was given before.
    pinned = sha256 is not None or _pinned_before(meta_path, digest)
    with atomic_path(srs_path) as tmp:
        shutil.copyfile(source, tmp)
    write_json_atomic(
        meta_path,
        {"logrows": logrows, "sha256": digest, "provenance": "imported", "source": str(source.resolve()), "pinned": pinned},
    )
    return Srs(srs_path, digest, logrows, "imported", pinned=pinned)


def _pinned_before(meta_path: Path, digest: str) -> bool:
    """Whether the recorded import at ``meta_path`` pinned exactly ``digest`` (the meta only: the file is being replaced)."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("sha256") == digest and meta.get("pinned") is True


def resolve_srs(logrows: int, *, allow_dev: bool = True) -> Srs:
    """The SRS to use for a circuit of ``logrows``: imported if present, else development.

    An imported SRS of larger logrows also serves (ezkl reduces it). A pinned
    import is preferred over an unpinned one of any size; an unpinned one is
    still taken over the development SRS, since the user asked for it (it is
    equally unsafe, and :attr:`Srs.unsafe` says so).

    Raises:
        SrsError: ``allow_dev`` is False and no imported SRS is large enough.
    """
    unpinned: Srs | None = None
    for k in range(logrows, MAX_LOGROWS + 1):
        found = _load_cached(k, "imported")
        if found and found.pinned:
            return found
        unpinned = unpinned or found
    if unpinned:
        return unpinned
    if not allow_dev:
        raise SrsError(
            f"no imported SRS for logrows >= {logrows} and development SRS is not allowed",
            hint="import one: zkml srs import FILE --sha256 HEX",
        )
    return generate_dev_srs(logrows)


def list_cached() -> list[Srs]:
    """Every SRS in the cache, checked."""
    found = []
    for k in range(1, MAX_LOGROWS + 1):
        for provenance in ("imported", "dev-unsafe"):
            srs = _load_cached(k, provenance)  # type: ignore[arg-type]
            if srs:
                found.append(srs)
    return found


@dataclass(frozen=True)
class KeysSrs:
    """The SRS a workspace's keys were made with, as its manifest records it.

    Attributes:
        path: the SRS file.
        unsafe_reason: ``dev-unsafe``, ``unpinned`` or None (see :func:`record_unsafe_reason`).
    """

    path: Path
    unsafe_reason: str | None

    @property
    def unsafe(self) -> bool:
        return self.unsafe_reason is not None


def keys_srs(workspace: Path) -> KeysSrs:
    """The SRS behind a workspace's keys and whether it is safe for a public chain.

    Raises:
        ConfigError: the folder has no readable manifest, or no keys yet.
    """
    manifest = read_manifest(workspace)
    if manifest is None:
        raise ConfigError(f"{workspace} has no readable manifest.json", hint="run zkml setup or zkml run first")
    record = manifest["info"].get("srs") or {}
    if not record.get("path"):
        raise ConfigError(f"{workspace} has no keys yet", hint="run zkml setup TARGET first")
    return KeysSrs(Path(record["path"]), record_unsafe_reason(record))


def declared_unsafe_reason(recorded: KeysSrs | None, *, declared_unsafe: bool | None) -> str | None:
    """Why keys must be treated as unsafe, given the workspace's record and what the user declared.

    The user's ``--srs-unsafe``/``--srs-imported`` wins over the record; with neither a
    record nor a declaration the provenance is unknown, which counts as the dangerous case.
    """
    if declared_unsafe is None:
        return recorded.unsafe_reason if recorded is not None else "dev-unsafe"
    if not declared_unsafe:
        return None
    return (recorded.unsafe_reason if recorded is not None else None) or "dev-unsafe"


def record_unsafe_reason(record: dict[str, object]) -> str | None:
    """Why an SRS a workspace manifest records is unsafe for a public chain, or None when it is safe.

    ``dev-unsafe``: a development SRS (known toxic waste), or no record at all (nothing vouches
    for the keys). ``unpinned``: imported without a pinned sha256, or a record from before pins
    were recorded (its origin is unknown).
    """
    if not record or record.get("provenance") == "dev-unsafe":
        return "dev-unsafe"
    if record.get("unsafe") or record.get("pinned") is not True:
        return "unpinned"
    return None
