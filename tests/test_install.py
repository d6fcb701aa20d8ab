"""A non-editable install works away from the checkout: the package data ships, nothing is found through the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _install(tmp_path: Path) -> Path:
    """A fresh venv with a non-editable zkml; returns its bin folder."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # zkml alone (its build backend comes from the package index, as for any `pip install .`) ...
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", str(REPO)], check=True, cwd=tmp_path
    )
    # ... and its dependencies from the development venv's site-packages, added as a plain path:
    # its .pth files (the editable zkml among them) are not processed, so only the copy
    # installed here can be imported as zkml. No rebuild of torch or ezkl.
    site = Path(
        subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip()
    )
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.check_output([str(python), "-c", "import zkml, zkml_cli; print(zkml.__file__)"], text=True, cwd=tmp_path)
    assert str(REPO) not in installed and str(site) in installed
    return venv / "bin"


def test_non_editable_install_ships_the_contracts_and_the_cli(tmp_path: Path) -> None:
    """The package data is in the wheel: the oracle sources are found with no checkout around."""
    bin_dir = _install(tmp_path)
    code = "from zkml.oracle.compile import contract_sources; print(sorted(contract_sources()))"
    names = subprocess.check_output([str(bin_dir / "python"), "-c", code], text=True, cwd=tmp_path)
    assert "VerifiedPredictionOracle.sol" in names and "ForecastVault.sol" in names
    help_text = subprocess.check_output([str(bin_dir / "zkml"), "--help"], text=True, cwd=tmp_path)
    assert "verify-onchain" in help_text


@pytest.mark.slow
def test_non_editable_install_runs_a_copied_circuit_on_chain(tmp_path: Path) -> None:
    """``pip install .`` into a fresh venv, then ``zkml run`` from elsewhere on a circuit copied elsewhere."""
    bin_dir = _install(tmp_path)
    circuit = tmp_path / "elsewhere" / "mlp_regressor"
    shutil.copytree(REPO / "circuits" / "mlp_regressor", circuit, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "circuits" / "circuit_data.py", circuit.parent)
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "ZKML_CACHE_DIR": str(tmp_path / "cache"),
        # The npm tools (solcjs, anvil) are the project's, installed from its package.json.
        "ZKML_NODE_MODULES": str(REPO / "node_modules"),
    }
    env.pop("ZKML_RPC_URL", None)
    proc = subprocess.run(
        [str(bin_dir / "zkml"), "run", str(circuit), "--json", "-"], capture_output=True, text=True, cwd=work, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["verified"] is True and summary["onchain_accepted"] is True
    assert summary["oracle"]["consumer"]["target_risky_bps"] >= 0  # the consumer acted on the verified prediction
    assert (work / "build" / "mlp_regressor" / "proof.json").is_file()


def test_the_npm_lock_is_complete_for_npm_ci() -> None:
    """Set-up runs ``npm ci``, which refuses a lock missing any locked package's optional dependency.

    A lock regenerated where the registry serves only this platform's anvil drops the other
    platforms' packages; ``npm ci`` then fails on a fresh clone (and ``npm install`` would
    rewrite the committed lock, dirtying the tree and the set-up stamp).
    """
    lock = json.loads((REPO / "package-lock.json").read_text())
    packages = lock["packages"]
    missing = [
        f"{path or 'package.json'} -> {name}"
        for path, entry in packages.items()
        for name in entry.get("optionalDependencies", {})
        if f"node_modules/{name}" not in packages
    ]
    assert not missing, f"package-lock.json lacks: {missing}"
    root = json.loads((REPO / "package.json").read_text())
    assert set(root.get("dependencies", {})) <= {p.removeprefix("node_modules/") for p in packages}
