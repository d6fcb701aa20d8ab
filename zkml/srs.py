"""Structured reference strings (SRS): a local development one, or an imported one.

Nothing is downloaded. A development SRS is generated with ``ezkl.gen_srs`` once
per logrows into a user cache shared by all circuits; its toxic waste is known,
so it is only for development and is marked ``dev-unsafe`` wherever it is
recorded. A real deployment imports an SRS file (for example one derived from
the Perpetual Powers of Tau) and pins its sha256.

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
from pathlib import Path

from zkml import _ezkl
from zkml.artifacts import Srs, SrsProvenance, sha256_file
from zkml.errors import SrsError
from zkml.workspace import atomic_path, cache_dir, write_json_atomic

log = logging.getLogger(__name__)

MAX_LOGROWS = 26


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
    return Srs(srs_path, digest, logrows, provenance)


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
    log.info("generating development SRS for logrows %d (insecure, local only)", logrows)
    with atomic_path(srs_path) as tmp:
        tmp.unlink()  # gen_srs refuses nothing, but write a clean file
        try:
            _ezkl.call("gen_srs", str(tmp), logrows)
        except _ezkl.EzklFailure as exc:
            raise SrsError(f"generating SRS for logrows {logrows} failed: {exc}") from exc
        read_logrows(tmp)
    digest = sha256_file(srs_path)
    write_json_atomic(
        meta_path,
        {
            "logrows": logrows,
            "sha256": digest,
            "provenance": "dev-unsafe",
            "warning": "development only, unsafe: toxic waste known locally",
        },
    )
    return Srs(srs_path, digest, logrows, "dev-unsafe")


def import_srs(source: Path, *, sha256: str | None = None) -> Srs:
    """Copy a user-provided SRS into the cache after checking it.

    Args:
        source: a halo2 KZG params file (e.g. derived from the Perpetual Powers of Tau).
        sha256: the digest it must have; strongly recommended, since an SRS
            whose origin is not pinned is no better than a development one.

    Raises:
        SrsError: wrong digest, or not a valid SRS file.
    """
    source = Path(source)
    logrows = read_logrows(source)
    digest = sha256_file(source)
    if sha256 is not None and digest != sha256.lower():
        raise SrsError(f"SRS {source} has sha256 {digest}, expected {sha256.lower()}", hint="get the file again from its source")
    srs_path, meta_path = _paths(logrows, "imported")
    with atomic_path(srs_path) as tmp:
        shutil.copyfile(source, tmp)
    write_json_atomic(
        meta_path,
        {"logrows": logrows, "sha256": digest, "provenance": "imported", "source": str(source.resolve()), "pinned": sha256 is not None},
    )
    return Srs(srs_path, digest, logrows, "imported")


def resolve_srs(logrows: int, *, allow_dev: bool = True) -> Srs:
    """The SRS to use for a circuit of ``logrows``: imported if present, else development.

    An imported SRS of larger logrows also serves (ezkl reduces it).

    Raises:
        SrsError: ``allow_dev`` is False and no imported SRS is large enough.
    """
    for k in range(logrows, MAX_LOGROWS + 1):
        found = _load_cached(k, "imported")
        if found:
            return found
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
