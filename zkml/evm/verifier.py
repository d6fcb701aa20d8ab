"""Generate the Solidity verifier for a verifying key and compile it ourselves.

ezkl renders the Solidity; zkml compiles it. ``ezkl.create_evm_verifier`` (23.x)
writes the ``.sol`` first and then tries to download solc to compile it, which
fails offline, so the download error is expected and ignored once the ``.sol``
is there.

Two shapes of verifier:

- *plain*: one contract per model, the verifying key baked into the bytecode;
  ``verifyProof(bytes proof, uint256[] instances) returns (bool)``.
- *reusable*: one circuit-independent contract (``Halo2VerifierReusable``) that
  serves many models; each model ships a VKA (verifying-key artifact, made by
  ``ezkl.create_evm_vka``) that is registered once on the verifier and passed
  with every proof: ``verifyProof(bytes, uint256[], bytes32[] vka)``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zkml import _ezkl
from zkml.artifacts import sha256_bytes, sha256_file
from zkml.errors import ContractTooLargeError, EvmError, ZkmlError
from zkml.evm.solc import (
    DEFAULT_EVM_VERSION,
    DEFAULT_OPTIMIZER_RUNS,
    CompiledContract,
    Compiler,
    CompilerInfo,
    compile_standard_json,
)
from zkml.workspace import write_bytes_atomic, write_json_atomic

log = logging.getLogger(__name__)

# EIP-170: the largest runtime code mainnet (and anvil, by default) accepts. The one place this number lives.
EIP170_LIMIT = 24_576
SOL_NAME = "Verifier.sol"
ABI_NAME = "Verifier.abi.json"
BIN_NAME = "Verifier.bin"
RECORD_NAME = "Verifier.json"
PLAIN_CONTRACT = "Halo2Verifier"
REUSABLE_CONTRACT = "Halo2VerifierReusable"


@dataclass(frozen=True)
class VerifierArtifact:
    """A compiled Solidity verifier on disk.

    Attributes:
        sol_path: the Solidity source ezkl rendered.
        abi_path: the contract ABI (JSON).
        bin_path: the creation bytecode, hex without ``0x``.
        record_path: ``Verifier.json``, this artifact's own metadata.
        contract_name: ``Halo2Verifier`` or ``Halo2VerifierReusable``.
        reusable: True for the circuit-independent verifier used with VKAs.
        sol_sha256: sha256 of the source.
        bin_sha256: sha256 of the creation bytecode file.
        runtime_sha256: sha256 of the runtime bytecode (what ends up on chain).
        runtime_bytes: size of the runtime bytecode (EIP-170 limits it).
        creation_bytes: size of the creation bytecode.
        vk_sha256: sha256 of the verifying key the verifier was made for.
        settings_sha256: sha256 of the circuit settings.
        compiler: what compiled it, with which settings.
        compile_seconds: wall time of the compilation.
    """

    sol_path: Path
    abi_path: Path
    bin_path: Path
    record_path: Path
    contract_name: str
    reusable: bool
    sol_sha256: str
    bin_sha256: str
    runtime_sha256: str
    runtime_bytes: int
    creation_bytes: int
    vk_sha256: str
    settings_sha256: str
    compiler: CompilerInfo
    compile_seconds: float

    def abi(self) -> list[dict[str, Any]]:
        """The ABI, read from disk."""
        return list(json.loads(self.abi_path.read_text()))

    def creation_code(self) -> bytes:
        """The creation bytecode, read from disk."""
        return bytes.fromhex(self.bin_path.read_text().strip().removeprefix("0x"))

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (paths relative to the record's folder)."""
        folder = self.record_path.parent
        return {
            "sol": _rel(self.sol_path, folder),
            "abi": _rel(self.abi_path, folder),
            "bin": _rel(self.bin_path, folder),
            "contract_name": self.contract_name,
            "reusable": self.reusable,
            "sol_sha256": self.sol_sha256,
            "bin_sha256": self.bin_sha256,
            "runtime_sha256": self.runtime_sha256,
            "runtime_bytes": self.runtime_bytes,
            "creation_bytes": self.creation_bytes,
            "vk_sha256": self.vk_sha256,
            "settings_sha256": self.settings_sha256,
            "compiler": self.compiler.as_dict(),
            "compile_seconds": round(self.compile_seconds, 3),
        }


@dataclass(frozen=True)
class Vka:
    """A verifying-key artifact for the reusable verifier: one per model.

    Attributes:
        path: the VKA file ezkl wrote (8-byte little-endian word count, then 32-byte words).
        sha256: sha256 of that file.
        digest: ``keccak256`` of the words, the id the reusable verifier registers it under.
        words: the ``bytes32[]`` passed to ``registerVka`` and ``verifyProof``.
        vk_sha256: sha256 of the verifying key it was made from.
    """

    path: Path
    sha256: str
    digest: str
    words: tuple[bytes, ...]
    vk_sha256: str


def _rel(path: Path, folder: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def _render_solidity(vk_path: Path, settings_path: Path, srs_path: Path, reusable: bool, work: Path) -> str:
    sol = work / SOL_NAME
    abi = work / "ezkl.abi.json"
    try:
        _ezkl.call("create_evm_verifier", str(vk_path), str(settings_path), str(sol), str(abi), str(srs_path), reusable)
    except Exception as exc:
        # Expected offline: ezkl writes the .sol, then fails to download solc (svm).
        if not sol.is_file() or sol.stat().st_size == 0:
            raise EvmError(
                f"ezkl could not render the Solidity verifier: {exc}",
                hint="check that the verifying key, settings and SRS belong to the same circuit",
            ) from exc
        log.debug("ezkl.create_evm_verifier wrote %s and then failed (%s); compiling it ourselves", sol, exc)
    if not sol.is_file():
        raise EvmError("ezkl.create_evm_verifier returned without writing the Solidity file")
    text = sol.read_text()
    if "contract " not in text or not text.rstrip().endswith("}"):
        raise EvmError(f"ezkl wrote an incomplete Solidity verifier ({len(text)} chars)")
    return text


def _check_inputs(**paths: Path) -> None:
    for what, path in paths.items():
        if not Path(path).is_file():
            raise EvmError(f"{what.replace('_', ' ')} {path} does not exist")


def generate_verifier(
    vk_path: Path,
    settings_path: Path,
    srs_path: Path,
    out_dir: Path,
    *,
    reusable: bool = False,
    compiler: Compiler | None = None,
    optimizer_runs: int = DEFAULT_OPTIMIZER_RUNS,
    evm_version: str = DEFAULT_EVM_VERSION,
) -> VerifierArtifact:
    """Render the Solidity verifier for a verifying key and compile it.

    Writes ``Verifier.sol``, ``Verifier.abi.json``, ``Verifier.bin`` and
    ``Verifier.json`` (the artifact record) into ``out_dir``, each atomically.

    Args:
        vk_path: the circuit's verifying key.
        settings_path: the circuit's settings.json.
        srs_path: the SRS the keys were made with.
        out_dir: where to write the verifier files.
        reusable: render the circuit-independent reusable verifier (use with :func:`create_vka`).
        compiler: the Solidity compiler; found automatically when None.
        optimizer_runs: solc optimizer runs.
        evm_version: solc target EVM version.

    Returns:
        The compiled verifier.

    Raises:
        EvmError: ezkl could not render it or solc could not compile it.
        SolcNotFoundError: no compiler available.
    """
    vk_path, settings_path, srs_path, out_dir = Path(vk_path), Path(settings_path), Path(srs_path), Path(out_dir)
    _check_inputs(verifying_key=vk_path, settings=settings_path, srs=srs_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".verifier-", dir=out_dir) as tmp:
        source = _render_solidity(vk_path, settings_path, srs_path, reusable, Path(tmp))
    contracts = compile_standard_json({SOL_NAME: source}, optimizer_runs=optimizer_runs, evm_version=evm_version, compiler=compiler)
    name = REUSABLE_CONTRACT if reusable else PLAIN_CONTRACT
    if name not in contracts:
        if len(contracts) != 1:
            raise EvmError(f"expected contract {name} in the generated verifier, found {sorted(contracts)}")
        name = next(iter(contracts))
    return _write_artifact(contracts[name], source, out_dir, reusable, sha256_file(vk_path), sha256_file(settings_path))


def _write_artifact(
    contract: CompiledContract, source: str, out_dir: Path, reusable: bool, vk_sha: str, settings_sha: str
) -> VerifierArtifact:
    sol, abi, binf, record = (out_dir / n for n in (SOL_NAME, ABI_NAME, BIN_NAME, RECORD_NAME))
    write_bytes_atomic(sol, source.encode())
    write_json_atomic(abi, contract.abi_list)
    write_bytes_atomic(binf, (contract.bytecode.hex() + "\n").encode())
    artifact = VerifierArtifact(
        sol_path=sol,
        abi_path=abi,
        bin_path=binf,
        record_path=record,
        contract_name=contract.name,
        reusable=reusable,
        sol_sha256=sha256_file(sol),
        bin_sha256=sha256_file(binf),
        runtime_sha256=sha256_bytes(contract.deployed_bytecode),
        runtime_bytes=contract.runtime_size,
        creation_bytes=len(contract.bytecode),
        vk_sha256=vk_sha,
        settings_sha256=settings_sha,
        compiler=contract.compiler,
        compile_seconds=contract.seconds,
    )
    # Written last: a record on disk means every file it names is complete.
    write_json_atomic(record, artifact.as_dict())
    log.info("verifier %s: %d runtime bytes (%s)", contract.name, artifact.runtime_bytes, out_dir)
    return artifact


def load_verifier(out_dir: Path) -> VerifierArtifact:
    """Load a verifier written by :func:`generate_verifier`, checking its files are unchanged.

    Raises:
        EvmError: no record, or a file no longer matches its recorded sha256.
    """
    out_dir = Path(out_dir)
    record = out_dir / RECORD_NAME
    try:
        data = json.loads(record.read_text())
    except FileNotFoundError as exc:
        raise EvmError(f"no verifier in {out_dir} ({RECORD_NAME} missing)", hint="run `zkml verifier` first") from exc
    except (OSError, ValueError) as exc:
        raise EvmError(f"{record} is unreadable: {exc}", hint="run `zkml verifier` again") from exc
    sol, abi, binf = (out_dir / data[k] for k in ("sol", "abi", "bin"))
    for path, key in ((sol, "sol_sha256"), (binf, "bin_sha256")):
        if not path.is_file() or sha256_file(path) != data[key]:
            raise EvmError(f"{path} changed since the verifier was compiled", hint="run `zkml verifier` again")
    return VerifierArtifact(
        sol_path=sol,
        abi_path=abi,
        bin_path=binf,
        record_path=record,
        contract_name=data["contract_name"],
        reusable=bool(data["reusable"]),
        sol_sha256=data["sol_sha256"],
        bin_sha256=data["bin_sha256"],
        runtime_sha256=data["runtime_sha256"],
        runtime_bytes=int(data["runtime_bytes"]),
        creation_bytes=int(data["creation_bytes"]),
        vk_sha256=data["vk_sha256"],
        settings_sha256=data["settings_sha256"],
        compiler=CompilerInfo.from_dict(data["compiler"]),
        compile_seconds=float(data.get("compile_seconds", 0.0)),
    )


VerifierKind = Literal["plain", "reusable"]


def choose_verifier_kind(plain_runtime_bytes: int, *, fallback: bool = True) -> VerifierKind:
    """Which verifier a model deploys: plain while its runtime code fits EIP-170, else reusable + VKA.

    The one place this is decided (``zkml run`` and batched circuits both ask).
    Pure: no chain, no files.

    Args:
        plain_runtime_bytes: runtime code size of the model's plain verifier.
        fallback: allow the reusable verifier; without it an oversized plain
            verifier is still "plain", and deployment refuses it with
            :class:`~zkml.errors.ContractTooLargeError` (what the caller asked for).
    """
    # EIP170_LIMIT is read at call time, not bound as a default: a test lowers it to force the fallback.
    return "reusable" if fallback and plain_runtime_bytes > EIP170_LIMIT else "plain"


def check_runtime_size(runtime_bytes: int, *, limit: int = EIP170_LIMIT, allow_oversize: bool = False) -> None:
    """Refuse runtime code that a chain enforcing EIP-170 would not accept.

    Args:
        runtime_bytes: size of the runtime bytecode.
        limit: the chain's code-size limit (24,576 bytes on mainnet).
        allow_oversize: the caller knows the target chain has no such limit.

    Raises:
        ContractTooLargeError: too large and not allowed.
    """
    if runtime_bytes <= limit or allow_oversize:
        if runtime_bytes > limit:
            log.warning("runtime code is %d bytes, over the EIP-170 limit of %d; deploying anyway", runtime_bytes, limit)
        return
    raise ContractTooLargeError(
        f"verifier runtime code is {runtime_bytes:,} bytes, over the EIP-170 limit of {limit:,} bytes "
        "(mainnet and most chains refuse to deploy it)",
        size=runtime_bytes,
        limit=limit,
        hint="make the circuit smaller or expose fewer public instances, use the reusable verifier "
        "(`zkml verifier --reusable`) with a per-model VKA, or deploy to an L2 without the limit "
        "and pass --allow-oversize",
    )


def read_vka(path: Path, vk_sha256: str = "") -> Vka:
    """Read a VKA file written by ezkl (bincode ``Vec<[u8; 32]>``).

    Raises:
        EvmError: the file is not a VKA.
    """
    from eth_utils import keccak

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvmError(f"cannot read VKA {path}: {exc}") from exc
    count = int.from_bytes(raw[:8], "little") if len(raw) >= 8 else -1
    if count < 0 or len(raw) != 8 + 32 * count:
        raise EvmError(f"{path} is not a VKA file ({len(raw)} bytes)", hint="make it with `zkml verifier --reusable`")
    words = tuple(raw[8 + 32 * i : 8 + 32 * (i + 1)] for i in range(count))
    return Vka(path=path, sha256=sha256_bytes(raw), digest="0x" + keccak(b"".join(words)).hex(), words=words, vk_sha256=vk_sha256)


def create_vka(vk_path: Path, settings_path: Path, srs_path: Path, out_path: Path, *, decimals: int = 18) -> Vka:
    """Make the VKA of one model for the reusable verifier.

    Args:
        vk_path: the model's verifying key.
        settings_path: the model's settings.json.
        srs_path: the SRS the keys were made with.
        out_path: where to write the VKA.
        decimals: decimals the verifier uses to rescale fixed-point outputs into integers.

    Returns:
        The VKA with its on-chain digest.

    Raises:
        EvmError: ezkl failed.
    """
    vk_path, settings_path, srs_path, out_path = Path(vk_path), Path(settings_path), Path(srs_path), Path(out_path)
    _check_inputs(verifying_key=vk_path, settings=settings_path, srs=srs_path)
    if not 0 <= decimals <= 77:
        raise EvmError(f"decimals must be between 0 and 77, got {decimals}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _ezkl.call("create_evm_vka", str(vk_path), str(settings_path), str(tmp), str(srs_path), decimals)
        vka = read_vka(tmp)
        shutil.move(str(tmp), out_path)
    except ZkmlError:
        raise
    except Exception as exc:
        raise EvmError(f"ezkl could not make the VKA: {exc}", hint="check that the key, settings and SRS match") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return Vka(path=out_path, sha256=vka.sha256, digest=vka.digest, words=vka.words, vk_sha256=sha256_file(vk_path))
