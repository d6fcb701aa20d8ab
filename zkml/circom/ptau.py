"""Development powers of tau for snarkjs, cached by power like the halo2 SRS.

snarkjs's ``powersoftau contribute`` mixes fresh OS randomness into any entropy it is
given, so its output cannot be recognised later. A development ptau here is instead
``new`` followed by a ``beacon`` with a public hash (:data:`DEV_BEACON`): the same bytes
on every machine, and its toxic waste derivable by anyone from that hash. It is therefore
recorded as ``dev-unsafe`` (:class:`zkml.artifacts.Srs` with that provenance), which
makes :func:`zkml.evm.deploy.check_srs_guard` refuse a verifier made from it on a
non-development chain, exactly as for ezkl's development SRS.

``prepare phase2`` (the Lagrange-basis points Groth16's and PLONK's setups read) runs once
per power; the file cached is the prepared one. FFLONK's setup reads only the powers of tau
themselves (sections 2 and 3) but needs 8x PLONK's power, where ``prepare phase2`` costs
most (an estimated ~35 min at 2^15 in JS on 2 cores, against ~7 min for the beacon): for it,
:func:`dev_ptau` with ``prepared=False`` caches the beacon's output as it is, with an empty
section 12 appended, since snarkjs 0.7.6's FFLONK setup checks that the section exists
without reading it. That file is for FFLONK only (PLONK and Groth16 setups refuse it).

A real deployment imports a ceremony ptau (e.g. Hermez/Polygon's
``powersOfTau28_hez_final_NN.ptau``) with :func:`import_ptau`, pinned by its sha256 like an
imported halo2 SRS (:mod:`zkml.srs`): the power is read from the file's header, whether it is
prepared (a non-empty section 12) is recorded, and a development ptau is refused from its
bytes: its contributions section records the public beacon hash (:func:`read_ptau`), whatever
the file is called and whichever cache made it. :func:`resolve_ptau` picks what a setup uses:
an imported ptau of a sufficient power (a pinned one first; snarkjs's setups read the
circuit's size out of a larger ptau), else the development one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from zkml.artifacts import Srs, sha256_file
from zkml.circom import tools
from zkml.dev_srs import FIELD
from zkml.errors import SrsError
from zkml.workspace import atomic_path, cache_dir, write_json_atomic

log = logging.getLogger(__name__)

DEV_BEACON_SEED = b"zkml development powers of tau, v1: this beacon is public; a setup made from it proves nothing"
DEV_BEACON = hashlib.sha256(DEV_BEACON_SEED).hexdigest()
BEACON_ITERATIONS_EXP = 10  # snarkjs's smallest: the beacon's hash chain is 2**10 long
MIN_POWER, MAX_POWER = 8, 20  # 2**20 constraints takes hours in JS; larger models belong to halo2


# The beacon makes the file byte-identical wherever it is made (two caches gave the same digest
# with snarkjs 0.7.6); its contributions section records the beacon's hash, which is what
# recognises one (:func:`is_dev_ptau`), the digests a second check.
KNOWN_DEV_DIGESTS = {
    11: "936b897875c73cbfaadd4d0f59921f5187839fce6c40c11303e76926b0743918",
    12: "219b9ceebe43adfc940b23a276d243ba8b2d574ce1f6b14e9827b5ed9b2910af",  # the same in two caches, 2026-12-05
}


def is_dev_ptau(path: Path) -> bool:
    """Whether a ptau file is a development one: its contributions record the public beacon, or its digest is known.

    The bytes decide, so a development ptau renamed, or made in another cache, is recognised;
    the digests (the known ones and every one this cache generated) also catch a file whose
    contributions section cannot be read.
    """
    try:
        if read_ptau(path).dev_beacon:
            return True
    except SrsError:
        pass
    digest = sha256_file(path)
    metas = ptau_dir().glob("pot*.dev*.json") if ptau_dir().is_dir() else ()
    recorded = {json.loads(meta.read_text()).get("sha256") for meta in metas}
    return digest in set(KNOWN_DEV_DIGESTS.values()) | recorded


# snarkjs's ptau sections: 1 the header (field size, the base field's modulus, power, ceremony power),
# 7 the contributions, 12 the Lagrange points ``prepare phase2`` adds.
HEADER_SECTION, CONTRIBUTIONS_SECTION, LAGRANGE_SECTION = 1, 7, 12
SNARKJS_MAX_POWER = 28  # BN254's scalar field has 2-adicity 28: no ptau is larger
# A contribution's fixed part with 32-byte field elements: tau, alpha, beta points (3 G1 + 2 G2), its public key
# (6 G1 + 3 G2), a 216-byte partial hash and the 64-byte next challenge; then its type (u32) and parameters.
_CONTRIBUTION_FIXED = 3 * 64 + 2 * 128 + 6 * 64 + 3 * 128 + 216 + 64


@dataclass(frozen=True)
class PtauContribution:
    """One contribution a ptau file records: ``name``, and for a beacon its hash (hex) and iterations."""

    name: str
    beacon_hash: str | None = None
    iterations_exp: int | None = None


@dataclass(frozen=True)
class PtauInfo:
    """What a ptau file's own bytes say (:func:`read_ptau`).

    Attributes:
        power: circuits of up to 2**power constraints (the header's).
        ceremony_power: the power of the ceremony it was cut from.
        prepared: ``prepare phase2`` ran (section 12 present and non-empty): Groth16 and PLONK need it.
        has_lagrange_section: section 12 exists at all (FFLONK's setup checks only that).
        contributions: in order.
    """

    power: int
    ceremony_power: int
    prepared: bool
    has_lagrange_section: bool
    contributions: tuple[PtauContribution, ...]

    @property
    def dev_beacon(self) -> bool:
        """A contribution is zkml's public development beacon: the toxic waste is known."""
        return any(c.beacon_hash == DEV_BEACON for c in self.contributions)


def _sections(handle: BinaryIO, path: Path) -> dict[int, tuple[int, int]]:
    """section id -> (offset of its bytes, size), from a ptau file's section table (seeking, never reading it all)."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"ptau":
        raise SrsError(f"{path} is not a ptau file (no 'ptau' header)", hint="import a snarkjs powers-of-tau file (.ptau)")
    size = path.stat().st_size
    found: dict[int, tuple[int, int]] = {}
    offset = 12
    for _ in range(struct.unpack_from("<I", head, 8)[0]):
        entry = handle.read(12)
        if len(entry) < 12:
            raise SrsError(f"ptau {path} is truncated (section table at byte {offset})", hint="get the file again from its source")
        kind, length = struct.unpack("<IQ", entry)
        offset += 12
        if offset + length > size:
            raise SrsError(f"ptau {path} is truncated: section {kind} runs past the end", hint="get the file again from its source")
        found.setdefault(kind, (offset, length))
        offset += length
        handle.seek(offset)
    return found


def _contributions(data: bytes, path: Path) -> tuple[PtauContribution, ...]:
    """Parse section 7 as snarkjs writes it: a u32 count, then each contribution with its parameters."""
    try:
        (count,) = struct.unpack_from("<I", data, 0)
        at, found = 4, []
        for _ in range(count):
            at += _CONTRIBUTION_FIXED + 4  # the points, key and hashes, then the type
            (length,) = struct.unpack_from("<I", data, at)
            params, at = data[at + 4 : at + 4 + length], at + 4 + length
            fields: dict[int, bytes] = {}
            i = 0
            while i < len(params):  # (id, length, bytes) for the name (1) and beacon hash (3); (2, exponent)
                kind = params[i]
                if kind == 2:
                    fields[2], i = params[i + 1 : i + 2], i + 2
                else:
                    fields[kind], i = params[i + 2 : i + 2 + params[i + 1]], i + 2 + params[i + 1]
            beacon = fields[3].hex() if 3 in fields else None
            exponent = fields[2][0] if fields.get(2) else None
            found.append(PtauContribution(fields.get(1, b"").decode("utf-8", "replace"), beacon, exponent))
        if at != len(data):
            raise ValueError(f"{len(data) - at} bytes left over")
    except (struct.error, IndexError, ValueError) as exc:
        raise SrsError(f"ptau {path} has a malformed contributions section ({exc})", hint="get the file again from its source") from exc
    return tuple(found)


def read_ptau(path: Path) -> PtauInfo:
    """Read a ptau file's header and contributions (the big sections are skipped, not read).

    Raises:
        SrsError: not a ptau file, truncated, not on bn128 (BN254), or malformed.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            sections = _sections(handle, path)
            if HEADER_SECTION not in sections or CONTRIBUTIONS_SECTION not in sections:
                raise SrsError(f"ptau {path} has no header or no contributions section")
            handle.seek(sections[HEADER_SECTION][0])
            header = handle.read(sections[HEADER_SECTION][1])
            handle.seek(sections[CONTRIBUTIONS_SECTION][0])
            contributions = handle.read(sections[CONTRIBUTIONS_SECTION][1])
    except OSError as exc:
        raise SrsError(f"cannot read ptau {path}: {exc.strerror or exc}") from exc
    (field_size,) = struct.unpack_from("<I", header, 0)
    modulus = int.from_bytes(header[4 : 4 + field_size], "little")
    if modulus != FIELD:
        raise SrsError(
            f"ptau {path} is not on bn128 (its base field is {modulus:#x})",
            hint="the circom backend proves on bn128 (BN254), the curve Ethereum's precompiles verify",
        )
    power, ceremony_power = struct.unpack_from("<II", header, 4 + field_size)
    if not 1 <= power <= SNARKJS_MAX_POWER:
        raise SrsError(f"ptau {path} claims power {power}, outside 1..{SNARKJS_MAX_POWER}")
    lagrange = sections.get(LAGRANGE_SECTION)
    return PtauInfo(power, ceremony_power, bool(lagrange and lagrange[1]), lagrange is not None, _contributions(contributions, path))


def ptau_dir() -> Path:
    """Where the prepared powers-of-tau files are cached."""
    return cache_dir() / "ptau"


def power_for(constraints: int, public_signals: int) -> int:
    """The smallest power whose domain holds the circuit (snarkjs counts constraints + public signals + 1)."""
    needed = constraints + public_signals + 1
    power = max(MIN_POWER, (needed - 1).bit_length())
    if power > MAX_POWER:
        raise SrsError(
            f"a Groth16 setup for {constraints:,} constraints needs powers of tau 2^{power}, above the circom backend's 2^{MAX_POWER}",
            hint="prove this model with the halo2 backend",
        )
    return power


def _paths(power: int, prepared: bool = True) -> tuple[Path, Path]:
    stem = ptau_dir() / (f"pot{power}.dev" if prepared else f"pot{power}.dev.powers")
    return stem.with_suffix(stem.suffix + ".ptau"), stem.with_suffix(stem.suffix + ".json")


def mark_powers_only(source: Path, dest: Path) -> None:
    """Copy an unprepared ptau to ``dest`` with an empty section 12 (what FFLONK's setup checks for).

    A ptau file is ``ptau``, a version and a section count, then (id, size, bytes) sections.
    """
    data = bytearray(Path(source).read_bytes())
    if data[:4] != b"ptau":
        raise SrsError(f"{source} is not a ptau file")
    sections = struct.unpack_from("<I", data, 8)[0]
    struct.pack_into("<I", data, 8, sections + 1)
    dest.write_bytes(bytes(data) + struct.pack("<IQ", 12, 0))


def dev_ptau(power: int, *, prepared: bool = True) -> Srs:
    """The development powers of tau for ``power`` (generated once per cache).

    Args:
        prepared: with ``prepare phase2``'s Lagrange points (Groth16, PLONK); False gives the
            FFLONK-only file (the prepared one when that is cached).

    Raises:
        SrsError: snarkjs failed.
    """
    path, meta = _paths(power)
    if path.is_file() and meta.is_file():
        return Srs(path, sha256_file(path), power, "dev-unsafe", pinned=False)
    if not prepared:
        path, meta = _paths(power, prepared=False)
        if path.is_file() and meta.is_file():
            return Srs(path, sha256_file(path), power, "dev-unsafe", pinned=False)
    folder = ptau_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log.info("generating the development powers of tau 2^%d (public beacon: insecure, local only)", power)
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".pot{power}-") as tmp:
        work = Path(tmp)
        steps: list[tuple[str, list[str | Path]]] = [
            ("starting", ["powersoftau", "new", "bn128", str(power), work / "0.ptau"]),
            ("applying the public beacon to", ["powersoftau", "beacon", work / "0.ptau", work / "1.ptau", DEV_BEACON, str(BEACON_ITERATIONS_EXP), "-n=zkml dev beacon"]),
            ("preparing phase 2 of", ["powersoftau", "prepare", "phase2", work / "1.ptau", work / "final.ptau"]),
        ]  # fmt: skip
        for doing, args in steps if prepared else steps[:2]:
            tools.run("snarkjs", args, doing=f"{doing} the development powers of tau 2^{power}", error=SrsError)
        if not prepared:
            mark_powers_only(work / "1.ptau", work / "final.ptau")
        digest = sha256_file(work / "final.ptau")
        if prepared and power in KNOWN_DEV_DIGESTS and digest != KNOWN_DEV_DIGESTS[power]:
            log.warning(
                "the development ptau 2^%d differs from the known one (snarkjs %s): it is still development only",
                power,
                tools.version("snarkjs"),
            )
        shutil.move(str(work / "final.ptau"), path)
    record_dev_ptau(meta, power, digest, prepared)
    return Srs(path, digest, power, "dev-unsafe", pinned=False)


def record_dev_ptau(meta: Path, power: int, digest: str, prepared: bool) -> None:
    """Write a development ptau's provenance beside it (what :func:`is_dev_ptau` recognises)."""
    write_json_atomic(
        meta,
        {
            "power": power,
            "sha256": digest,
            "prepared": prepared,
            "provenance": "dev-unsafe",
            "beacon": DEV_BEACON,
            "beacon_iterations_exp": BEACON_ITERATIONS_EXP,
            "snarkjs": tools.version("snarkjs"),
            "warning": "development only, unsafe: the beacon is public, so the toxic waste is known",
        },
    )


def _imported_paths(power: int, prepared: bool) -> tuple[Path, Path]:
    stem = ptau_dir() / (f"pot{power}.imported" if prepared else f"pot{power}.imported.powers")
    return stem.with_suffix(stem.suffix + ".ptau"), stem.with_suffix(stem.suffix + ".json")


def import_ptau(source: Path, *, sha256: str | None = None) -> Srs:
    """Copy a ceremony ptau into the cache after checking it (the ptau twin of :func:`zkml.srs.import_srs`).

    The power comes from the file's header, and whether it is prepared from its section 12.
    An unprepared file (no section 12) is cached with an empty section 12 appended, as the
    development FFLONK-only file is (:func:`mark_powers_only`): FFLONK can use it, Groth16 and
    PLONK cannot. The pin is the source file's digest; the cache records both.

    Args:
        source: a snarkjs ptau (e.g. ``powersOfTau28_hez_final_12.ptau``).
        sha256: the digest it must have. Without it the ptau is recorded as unpinned, which
            :attr:`Srs.unsafe` treats like a development one.

    Raises:
        SrsError: wrong digest, not a bn128 ptau, or a development ptau (its beacon is zkml's public one).
    """
    source = Path(source)
    info = read_ptau(source)
    digest = sha256_file(source)
    if sha256 is not None and digest != sha256.strip().lower():
        raise SrsError(f"ptau {source} has sha256 {digest}, expected {sha256.strip().lower()}", hint="get the file again from its source")
    if is_dev_ptau(source):
        raise SrsError(
            f"ptau {source} is a development ptau (its beacon is zkml's public one; sha256 {digest[:12]}…): its toxic waste is known, "
            "so it cannot be imported",
            hint="import a ceremony ptau (e.g. Hermez's powersOfTau28_hez_final_NN.ptau) with --sha256 HEX; "
            "the development ptau is used automatically where it is allowed",
        )
    path, meta = _imported_paths(info.power, info.prepared)
    pinned = sha256 is not None or _pinned_before(meta, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if info.has_lagrange_section:
            shutil.copyfile(source, tmp)
        else:
            mark_powers_only(source, tmp)
        cached = sha256_file(tmp)
    write_json_atomic(
        meta,
        {
            "power": info.power,
            "ceremony_power": info.ceremony_power,
            "prepared": info.prepared,
            "provenance": "imported",
            "pinned": pinned,
            "source": str(source.resolve()),
            "source_sha256": digest,
            "sha256": cached,
            "contributions": len(info.contributions),
        },
    )
    log.info(
        "imported ptau 2^%d (%s, %s) from %s",
        info.power,
        "prepared" if info.prepared else "powers only",
        "pinned" if pinned else "unpinned",
        source,
    )
    return Srs(path, cached, info.power, "imported", pinned=pinned)


def _pinned_before(meta: Path, digest: str) -> bool:
    """Whether the recorded import at ``meta`` pinned exactly ``digest`` (importing it again unpinned keeps the pin)."""
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("source_sha256") == digest and data.get("pinned") is True


def cached_imported_ptau(power: int, prepared: bool) -> Srs | None:
    """The imported ptau cached for exactly ``power`` (the prepared or the powers-only file), checked; None if absent.

    Raises:
        SrsError: the cached file changed since it was recorded, or is a development ptau.
    """
    path, meta = _imported_paths(power, prepared)
    if not path.is_file() or not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    digest = sha256_file(path)
    if digest != data.get("sha256"):
        raise SrsError(
            f"cached ptau {path} changed since it was imported (sha256 {digest[:12]}… != {str(data.get('sha256'))[:12]}…)",
            hint=f"delete {path} and {meta.name}, then import it again: zkml srs import-ptau FILE --sha256 HEX",
        )
    if read_ptau(path).dev_beacon:
        raise SrsError(f"cached imported ptau {path} is a development ptau", hint=f"delete {path} and {meta.name}")
    return Srs(path, digest, power, "imported", pinned=data.get("pinned") is True)


def resolve_ptau(power: int, *, prepared: bool = True) -> Srs:
    """The ptau a setup of ``power`` uses: an imported one if cached, else the development one.

    An imported ptau of a larger power also serves: snarkjs's Groth16 and PLONK setups read the
    circuit's size out of its section 12, FFLONK's the first powers. A pinned import is preferred
    over an unpinned one of any size; an unpinned one still beats the development ptau (the user
    asked for it, and :attr:`Srs.unsafe` says it is no safer).

    Args:
        prepared: the setup reads ``prepare phase2``'s points (Groth16, PLONK); False (FFLONK)
            also takes a powers-only import.

    Raises:
        SrsError: a cached import is corrupt, or the development ptau could not be made.
    """
    unpinned: Srs | None = None
    for candidate in range(power, SNARKJS_MAX_POWER + 1):
        for file_prepared in (True, False) if not prepared else (True,):
            found = cached_imported_ptau(candidate, file_prepared)
            if found and found.pinned:
                return found
            unpinned = unpinned or found
    if unpinned:
        return unpinned
    return cached_dev_ptau(power, prepared=prepared) or dev_ptau(power, prepared=prepared)


def cached_dev_ptau(power: int, *, prepared: bool = True) -> Srs | None:
    """The smallest development ptau cached at ``power`` or above (a setup reads only the powers it needs), or None.

    Generating a prepared 2^13 takes minutes in JS; a cached 2^15 serves it at once, with the same
    (development-only) trust.
    """
    for candidate in range(power, MAX_POWER + 1):
        for file_prepared in (True, False) if not prepared else (True,):
            path, meta = _paths(candidate, file_prepared)
            if path.is_file() and meta.is_file():
                return Srs(path, sha256_file(path), candidate, "dev-unsafe", pinned=False)
    return None


def list_cached_ptau() -> list[tuple[Srs, bool]]:
    """Every ptau in the cache with whether it is prepared: the imported ones checked, then the development ones."""
    found: list[tuple[Srs, bool]] = []
    for power in range(1, SNARKJS_MAX_POWER + 1):
        for prepared in (True, False):
            imported = cached_imported_ptau(power, prepared)
            if imported:
                found.append((imported, prepared))
    for power in range(MIN_POWER, MAX_POWER + 1):
        for prepared in (True, False):
            path, meta = _paths(power, prepared)
            try:
                digest = str(json.loads(meta.read_text())["sha256"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not made yet, or interrupted before its record: dev_ptau makes it again
            if path.is_file():
                found.append((Srs(path, digest, power, "dev-unsafe", pinned=False), prepared))
    return found
