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
