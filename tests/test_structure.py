"""The package's shape: every module imports on its own, no import cycles, a light CLI start."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (("zkml", "zkml"), ("cli", "zkml_cli"))
HEAVY = ("torch", "ezkl", "web3", "onnxruntime", "ray", "matplotlib")


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES:
        for path in sorted((REPO / folder).rglob("*.py")):
            name = ".".join([package, *path.relative_to(REPO / folder).with_suffix("").parts]).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, at any depth in the file (function-level imports count too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in candidates:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                targets.add(target)
    return targets


def test_no_import_cycles() -> None:
    known = _modules()
    graph = {name: _imports(name, path, known) for name, path in known.items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


# -- package-level layering ------------------------------------------------------------------

# The root modules that compose stages and subpackages: the top layer of the library (the CLI sits above them).
COMPOSERS = ("zkml.pipeline", "zkml.flow")

# Package-level cycles that exist on purpose, each with its reason. None today; an entry here
# must name both packages and say why the loop cannot be broken yet, so that it stays visible.
ALLOWED_PACKAGE_CYCLES: dict[frozenset[str], str] = {}

# Imports of a composer from below it (rule 4 of the layering), each with its reason; same idea.
ALLOWED_CLIMBS: dict[str, str] = {}


def _package(module: str) -> str:
    """The layer a zkml module belongs to: its subpackage, a composer, or ``zkml`` (the floor)."""
    parts = module.split(".")
    if module in COMPOSERS:
        return module
    if len(parts) > 2 or (REPO / "zkml" / parts[-1] / "__init__.py").is_file():
        return ".".join(parts[:2])
    return "zkml"


def _package_graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the module-level edges behind it (function-level imports included)."""
    known = {name: path for name, path in _modules().items() if name == "zkml" or name.startswith("zkml.")}
    graph: dict[str, dict[str, list[str]]] = {}
    for name, path in known.items():
        source = _package(name)
        graph.setdefault(source, {})
        for target in _imports(name, path, known):
            if _package(target) != source:
                graph[source].setdefault(_package(target), []).append(f"{name} -> {target}")
    return graph


def _strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[frozenset[str]]:
    """Tarjan's components of more than one package: each is an import loop between packages."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_packages() -> None:
    """No loop between zkml's packages: a file-level DAG can still hide one (a.x -> b.y -> a.z).

    The layering rule, bottom to top:

    1. ``zkml.rewrite``: ONNX graph rewrites; imports nothing of zkml.
    2. the floor, package ``zkml``: every root module except the composers (errors, artifacts,
       config, settings, workspace, _ezkl, and the stage modules export, preflight, calibrate,
       circuit, keys, prove, verify, srs, ...). Of the subpackages it may import only ``zkml.rewrite``.
    3. the subpackages ``zkml.evm``, ``zkml.tune``, ``zkml.proving``, ``zkml.oracle``, ``zkml.serve``:
       each imports the floor and other subpackages, never in a loop (today proving, tune and oracle
       use evm; serve uses evm, oracle, proving and tune).
    4. the composers (``COMPOSERS``: ``zkml.pipeline``, ``zkml.flow``): the root modules that put the
       stages and subpackages together. Nothing in zkml imports them but another composer (exceptions
       named in ``ALLOWED_CLIMBS``); what a subpackage needs of a circuit it receives as an argument
       (e.g. ``zkml.tune.run.TunableCircuit``, ``zkml.proving.many.ProvableCircuit``).

    The root modules count as two packages, the floor and the composers, because that is what they
    are: counted as one, every subpackage that raises a ``ZkmlError`` would "loop" with the pipeline
    that imports it. Imports inside functions count (heavy imports live there), and so do imports
    under ``TYPE_CHECKING``.
    """
    graph = _package_graph()
    found = _strongly_connected(graph)
    assert not set(ALLOWED_PACKAGE_CYCLES) - set(found), "allowed package cycles that no longer exist: remove them"
    loops = [component for component in found if component not in ALLOWED_PACKAGE_CYCLES]
    details = []
    for component in loops:
        edges = [edge for source in sorted(component) for target, via in graph[source].items() if target in component for edge in via]
        details.append(" <-> ".join(sorted(component)) + ": " + ", ".join(sorted(edges)))
    assert not loops, "import loops between packages:\n" + "\n".join(details)


def test_composers_and_the_floor_keep_their_layers() -> None:
    """Rules 2 and 4 of the layering above, checked directly (a one-way climb is no cycle, yet still wrong)."""
    graph = _package_graph()
    climbs = {
        edge
        for source, targets in graph.items()
        if source not in COMPOSERS
        for target, edges in targets.items()
        if target in COMPOSERS
        for edge in edges
    }
    assert not climbs - set(ALLOWED_CLIMBS), f"modules below the composers import them: {sorted(climbs - set(ALLOWED_CLIMBS))}"
    assert not set(ALLOWED_CLIMBS) - climbs, f"allowed climbs that no longer exist (remove them): {sorted(set(ALLOWED_CLIMBS) - climbs)}"
    floor = set(graph["zkml"]) - {"zkml.rewrite"}
    assert not floor, f"the floor imports subpackages: {[edge for target in sorted(floor) for edge in graph['zkml'][target]]}"
    assert not graph.get("zkml.rewrite"), f"zkml.rewrite imports the rest of zkml: {graph['zkml.rewrite']}"


def test_every_module_imports_on_its_own() -> None:
    def load(name: str) -> tuple[str, str]:
        proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=REPO, check=False)
        return name, proc.stderr.strip().splitlines()[-1] if proc.returncode else ""

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f"{name}: {error}" for name, error in pool.map(load, _modules()) if error]
    assert not failures, "\n".join(failures)


def test_cli_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom zkml_cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\nassert result.exit_code == 0, result.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert proc.stdout.strip() == "", f"`zkml --help` imported {proc.stdout.strip()}"


def test_every_listed_command_loads() -> None:
    from click.testing import CliRunner
    from zkml_cli.main import COMMANDS, cli

    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, f"zkml {name} --help: {result.output}"


def test_every_subpackage_is_installed() -> None:
    """pyproject lists packages by name: a new subpackage left out installs without its modules."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    for folder, package in PACKAGES:
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            if "contracts" not in parts:
                assert ".".join([package, *parts]) in listed, init.parent
