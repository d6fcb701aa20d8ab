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
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import struct
import tempfile
from pathlib import Path

from zkml.artifacts import Srs, sha256_file
from zkml.circom import tools
from zkml.errors import SrsError
from zkml.workspace import cache_dir, write_json_atomic

log = logging.getLogger(__name__)

DEV_BEACON_SEED = b"zkml development powers of tau, v1: this beacon is public; a setup made from it proves nothing"
DEV_BEACON = hashlib.sha256(DEV_BEACON_SEED).hexdigest()
BEACON_ITERATIONS_EXP = 10  # snarkjs's smallest: the beacon's hash chain is 2**10 long
MIN_POWER, MAX_POWER = 8, 20  # 2**20 constraints takes hours in JS; larger models belong to halo2


# The beacon makes the file byte-identical wherever it is made (two caches gave the same digest
# with snarkjs 0.7.6), so a development ptau is recognised by its digest alone.
KNOWN_DEV_DIGESTS = {11: "936b897875c73cbfaadd4d0f59921f5187839fce6c40c11303e76926b0743918"}


def is_dev_ptau(path: Path) -> bool:
    """Whether a ptau file is a development one: a known digest, or one this cache generated."""
    digest = sha256_file(path)
    metas = ptau_dir().glob("pot*.dev*.json") if ptau_dir().is_dir() else ()
    recorded = {json.loads(meta.read_text()).get("sha256") for meta in metas}
    return digest in set(KNOWN_DEV_DIGESTS.values()) | recorded


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
