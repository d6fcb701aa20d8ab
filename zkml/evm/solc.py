"""Find a Solidity compiler and compile standard-JSON input with it, offline.

Two kinds of compiler produce the same bytecode for the same version and
settings, so zkml accepts either:

- a native ``solc`` binary: an explicit path, ``$ZKML_SOLC``, one py-solc-x has
  installed, or ``solc`` on PATH;
- the pinned npm ``solc`` package (solcjs, emscripten) run through node with the
  very same standard-JSON input. It is what ``npm ci`` in the repository gives,
  so every machine has it without a download.

Nothing here downloads: ``solcx.install_solc`` is never called, because the
machines zkml runs on may be offline and a silent download of a compiler is a
supply-chain step the user should choose.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from zkml.errors import EvmError, SolcNotFoundError, SolidityCompileError

log = logging.getLogger(__name__)

CompilerKind = Literal["native", "solcjs"]

DEFAULT_OPTIMIZER_RUNS = 1  # the verifier is called rarely and must stay small (EIP-170)
DEFAULT_EVM_VERSION = "cancun"  # supported by mainnet and the major L2s; anvil runs later forks too
COMPILE_TIMEOUT_S = 600

_HOW_TO_GET = (
    "run `npm ci` in the zkml repository (installs the pinned solcjs), install a native solc "
    "(for example with py-solc-x where the network allows it), or pass --solc PATH"
)

# Reads standard JSON on stdin, writes {"version", "output"} on stdout. solc.compile
# takes the standard-JSON string directly, unlike the solcjs CLI.
_NODE_SCRIPT = r"""
const solc = require(process.argv[1]);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  const output = solc.compile(input);
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(output)}));
});
"""


@dataclass(frozen=True)
class Compiler:
    """A located Solidity compiler.

    Attributes:
        kind: ``native`` (a solc binary) or ``solcjs`` (the npm package run by node).
        path: the solc binary, or the npm package folder (``.../node_modules/solc``).
        version: the full version, e.g. ``0.8.37+commit.f401782d``.
    """

    kind: CompilerKind
    path: Path
    version: str

    @property
    def short_version(self) -> str:
        """``0.8.37`` without the commit and platform suffix."""
        return self.version.split("+", 1)[0]


@dataclass(frozen=True)
class CompilerInfo:
    """What compiled a contract, recorded next to its bytecode and in deployment records."""

    kind: CompilerKind
    version: str
    optimizer_runs: int
    evm_version: str

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "kind": self.kind,
            "version": self.version,
            "optimizer": {"enabled": True, "runs": self.optimizer_runs},
            "evm_version": self.evm_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompilerInfo:
        """Inverse of :meth:`as_dict`."""
        return cls(
            kind=data["kind"],
            version=str(data["version"]),
            optimizer_runs=int(data["optimizer"]["runs"]),
            evm_version=str(data["evm_version"]),
        )


@dataclass(frozen=True)
class CompiledContract:
    """One contract out of a compilation."""

    name: str
    source: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes
    compiler: CompilerInfo
    seconds: float

    @property
    def runtime_size(self) -> int:
        """Bytes of runtime code, the number EIP-170 limits."""
        return len(self.deployed_bytecode)

    @cached_property
    def abi_list(self) -> list[dict[str, Any]]:
        """The ABI as the list web3 expects."""
        return [dict(item) for item in self.abi]

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (a compilation cache entry)."""
        return {
            "source": self.source,
            "abi": list(self.abi),
            "bytecode": self.bytecode.hex(),
            "deployed_bytecode": self.deployed_bytecode.hex(),
            "compiler": self.compiler.as_dict(),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> CompiledContract:
        """Inverse of :meth:`as_dict`."""
        return cls(
            name=name,
            source=str(data["source"]),
            abi=tuple(data["abi"]),
            bytecode=bytes.fromhex(data["bytecode"]),
            deployed_bytecode=bytes.fromhex(data["deployed_bytecode"]),
            compiler=CompilerInfo.from_dict(data["compiler"]),
            seconds=float(data["seconds"]),
        )


# --------------------------------------------------------------------------- discovery


def _native_version(binary: Path) -> str | None:
    try:
        result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"Version:\s*(\S+)", result.stdout)
    return match.group(1) if match else None


def _native_from_path(binary: Path) -> Compiler:
    version = _native_version(binary)
    if version is None:
        raise SolcNotFoundError(f"{binary} is not a working solc binary (`{binary} --version` failed)", hint=_HOW_TO_GET)
    return Compiler("native", binary, version)


def _solcjs_version(package: Path) -> str:
    # package.json says "0.8.37"; the full string with commit comes from the compile call.
    try:
        return str(json.loads((package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError) as exc:
        raise SolcNotFoundError(f"{package} is not an npm solc package", hint=_HOW_TO_GET) from exc


def _node_modules_candidates() -> Iterable[Path]:
    env = os.environ.get("ZKML_NODE_MODULES")
    if env:
        yield Path(env)
    seen: set[Path] = set()
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "node_modules"
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


def find_node_modules(package: str) -> Path | None:
    """The folder of an npm ``package`` in the nearest ``node_modules``.

    Looks in ``$ZKML_NODE_MODULES`` first, then walks up from the zkml package and
    from the current directory (so both an editable checkout and a project that
    ran ``npm ci`` next to its own code work).
    """
    for node_modules in _node_modules_candidates():
        folder = node_modules / package
        if (folder / "package.json").is_file():
            return folder
    return None


def native_compilers() -> list[Compiler]:
    """Every native solc that is available without downloading, best first."""
    found: list[Compiler] = []
    env = os.environ.get("ZKML_SOLC")
    if env:
        found.append(_native_from_path(Path(env)))
    try:
        import solcx
        from solcx.install import get_executable

        versions = sorted(solcx.get_installed_solc_versions(), reverse=True)
        for installed in versions:
            try:
                found.append(_native_from_path(Path(get_executable(installed))))
            except Exception as exc:  # a broken install in ~/.solcx must not hide the others
                log.debug("skipping py-solc-x solc %s: %s", installed, exc)
    except ImportError:
        log.debug("py-solc-x is not installed")
    on_path = shutil.which("solc")
    if on_path:
        version = _native_version(Path(on_path))
        if version:
            found.append(Compiler("native", Path(on_path), version))
    return found


def solcjs_compiler() -> Compiler | None:
    """The pinned npm solcjs, if ``node`` and ``node_modules/solc`` are both there."""
    package = find_node_modules("solc")
    if package is None or shutil.which("node") is None:
        return None
    return Compiler("solcjs", package, _solcjs_version(package))


def find_compiler(explicit: str | Path | None = None, *, kind: CompilerKind | None = None) -> Compiler:
    """Resolve the compiler to use, without downloading anything.

    Args:
        explicit: a native solc binary, or an npm ``solc`` package folder, chosen by the user.
        kind: restrict the search to ``native`` or ``solcjs``.

    Returns:
        The explicit compiler, else the first native solc found, else the pinned solcjs.

    Raises:
        SolcNotFoundError: nothing usable was found; the message says how to get one.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_dir():
            package = path / "node_modules" / "solc" if (path / "node_modules" / "solc").is_dir() else path
            if shutil.which("node") is None:
                raise SolcNotFoundError("solcjs needs node, which is not on PATH", hint="install node 20")
            return Compiler("solcjs", package, _solcjs_version(package))
        if not path.is_file():
            raise SolcNotFoundError(f"solc compiler {path} does not exist", hint=_HOW_TO_GET)
        return _native_from_path(path)
    if kind in (None, "native"):
        natives = native_compilers()
        if natives:
            return natives[0]
    if kind in (None, "solcjs"):
        js = solcjs_compiler()
        if js is not None:
            return js
    wanted = f"no {kind} Solidity compiler found" if kind else "no Solidity compiler found"
    raise SolcNotFoundError(wanted, hint=_HOW_TO_GET)


# --------------------------------------------------------------------------- compiling


def _standard_input(sources: Mapping[str, str], optimizer_runs: int, evm_version: str) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": optimizer_runs},
            "evmVersion": evm_version,
            # Without CBOR metadata the bytecode depends only on source and settings,
            # so native and solcjs builds (and rebuilds) are byte-identical.
            "metadata": {"bytecodeHash": "none", "appendCBOR": False},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def _run_json(label: str, argv: list[str], payload: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run a compiler on standard-JSON ``payload``; the process and its parsed stdout (None when not JSON)."""
    try:
        result = subprocess.run(argv, input=payload, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EvmError(f"{label} took longer than {COMPILE_TIMEOUT_S} s", hint="is the machine overloaded?") from exc
    except OSError as exc:
        raise SolcNotFoundError(f"cannot run {argv[0]}: {exc}", hint=_HOW_TO_GET) from exc
    try:
        return result, json.loads(result.stdout)
    except ValueError:
        return result, None


def _not_json(label: str, result: subprocess.CompletedProcess[str]) -> EvmError:
    return EvmError(f"{label} printed something that is not JSON: {result.stdout[:200]!r}")


def _run_native(compiler: Compiler, payload: str) -> tuple[str, dict[str, Any]]:
    result, data = _run_json("solc", [str(compiler.path), "--standard-json"], payload)
    if result.returncode != 0 and not result.stdout.strip():
        raise EvmError(f"solc failed (exit {result.returncode}): {result.stderr.strip()[:500]}")
    if data is None:
        raise _not_json("solc", result)
    return compiler.version, data


def _run_solcjs(compiler: Compiler, payload: str) -> tuple[str, dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        raise SolcNotFoundError("solcjs needs node, which is not on PATH", hint=_HOW_TO_GET)
    result, data = _run_json("solcjs", [node, "-e", _NODE_SCRIPT, str(compiler.path)], payload)
    if result.returncode != 0:
        raise EvmError(f"solcjs failed (exit {result.returncode}): {result.stderr.strip()[-500:]}", hint=_HOW_TO_GET)
    if data is None:
        raise _not_json("solcjs", result)
    return str(data["version"]).replace(".Emscripten.clang", ""), data["output"]


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


def _format_problem(problem: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    where = ""
    location = problem.get("sourceLocation") or {}
    file = location.get("file")
    if file is not None:
        start = int(location.get("start", -1))
        if file in sources and start >= 0:
            line, col = _line_col(sources[file], start)
            where = f"{file}:{line}:{col}: "
        else:
            where = f"{file}: "
    return f"{where}{problem.get('type', 'Error')}: {problem.get('message', '').strip()}"


def compile_standard_json(
    sources: Mapping[str, str],
    *,
    optimizer_runs: int = DEFAULT_OPTIMIZER_RUNS,
    evm_version: str = DEFAULT_EVM_VERSION,
    compiler: Compiler | None = None,
) -> dict[str, CompiledContract]:
    """Compile Solidity sources with a native solc or solcjs, same input either way.

    Args:
        sources: file name -> Solidity source text.
        optimizer_runs: the optimizer's ``runs`` (the optimizer is always on).
        evm_version: target EVM version (``cancun``, ``shanghai``, ...).
        compiler: the compiler to use; found with :func:`find_compiler` when None.

    Returns:
        Contract name -> compiled contract, for every contract with bytecode.

    Raises:
        SolcNotFoundError: no compiler is available.
        SolidityCompileError: the source does not compile; lists ``file:line:column: message``.
    """
    if optimizer_runs < 1:
        raise EvmError(f"optimizer runs must be >= 1, got {optimizer_runs}")
    compiler = compiler or find_compiler()
    payload = json.dumps(_standard_input(sources, optimizer_runs, evm_version))
    started = time.perf_counter()
    if compiler.kind == "native":
        version, output = _run_native(compiler, payload)
    else:
        version, output = _run_solcjs(compiler, payload)
    seconds = time.perf_counter() - started
    log.info("compiled %s with %s %s in %.2f s", ", ".join(sources), compiler.kind, version, seconds)
    problems = output.get("errors", [])
    errors = [p for p in problems if p.get("severity") == "error"]
    for warning in (p for p in problems if p.get("severity") != "error"):
        log.debug("solc: %s", _format_problem(warning, sources))
    if errors:
        lines = "; ".join(_format_problem(p, sources) for p in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise SolidityCompileError(f"Solidity compilation failed: {lines}{more}")
    info = CompilerInfo(kind=compiler.kind, version=version, optimizer_runs=optimizer_runs, evm_version=evm_version)
    contracts: dict[str, CompiledContract] = {}
    for file, by_name in output.get("contracts", {}).items():
        for name, data in by_name.items():
            code = data.get("evm", {}).get("bytecode", {}).get("object", "")
            if not code:  # interfaces and abstract contracts
                continue
            if name in contracts:
                raise EvmError(f"two contracts are named {name}; rename one", hint=f"second one is in {file}")
            contracts[name] = CompiledContract(
                name=name,
                source=file,
                abi=tuple(data.get("abi", [])),
                bytecode=bytes.fromhex(code),
                deployed_bytecode=bytes.fromhex(data["evm"]["deployedBytecode"]["object"]),
                compiler=info,
                seconds=seconds,
            )
    return contracts
