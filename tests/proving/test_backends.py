"""zkml.proving.backends: which backend prove_inputs picks, with stand-in backends (no ezkl, no Ray)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from zkml.proving import backends


class FakeBackend:
    """Records how it was made and what it proved; used as a context manager like the real ones."""

    made: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, spec: Any, out_dir: Path, **options: Any) -> None:
        self.made.append((type(self).__name__, options))

    def __enter__(self) -> FakeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def prove_many(self, paths: list[Path], *, progress: Any = None) -> list[Any]:
        return [(type(self).__name__, path) for path in paths]


class FakeWarm(FakeBackend):
    pass


class FakePool(FakeBackend):
    pass


class FakeRay(FakeBackend):
    pass


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    import zkml.proving.pool
    import zkml.proving.ray_cluster

    made: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(FakeBackend, "made", made)
    monkeypatch.setattr(backends, "WarmProver", FakeWarm)
    monkeypatch.setattr(zkml.proving.pool, "ProverPool", FakePool)
    monkeypatch.setattr(zkml.proving.ray_cluster, "RayProver", FakeRay)
    return made


def test_one_worker_proves_in_process(fakes: list[Any], tmp_path: Path) -> None:
    results = backends.prove_inputs(None, ["a.json"], tmp_path)  # type: ignore[arg-type]
    assert results == [("FakeWarm", Path("a.json"))] and fakes == [("FakeWarm", {})]


def test_several_workers_use_the_pool(fakes: list[Any], tmp_path: Path) -> None:
    assert backends.prove_inputs(None, [Path("a.json")], tmp_path, workers=3)[0][0] == "FakePool"  # type: ignore[arg-type,index]
    assert fakes == [("FakePool", {"workers": 3})]


@pytest.mark.parametrize(
    ("options", "made"),
    [
        ({"use_ray": True}, {"address": None, "num_workers": None}),  # a local Ray gets every core
        ({"use_ray": True, "workers": 4}, {"address": None, "num_workers": 4}),
        ({"ray_address": "auto", "workers": 1}, {"address": "auto", "num_workers": None}),  # an address implies Ray
    ],
)
def test_ray_is_chosen_by_flag_or_address(fakes: list[Any], tmp_path: Path, options: dict[str, Any], made: dict[str, Any]) -> None:
    assert backends.prove_inputs(None, [Path("a.json")], tmp_path, **options)[0][0] == "FakeRay"  # type: ignore[arg-type,index]
    assert fakes == [("FakeRay", made)]


def test_importing_the_package_loads_no_heavy_module() -> None:
    import subprocess

    code = "import sys, zkml.proving, zkml.proving.backends; print(sorted(m for m in ('ezkl', 'ray', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_package_exports_resolve_lazily() -> None:
    import zkml.proving as proving

    assert proving.prove_inputs is backends.prove_inputs
    assert "RayProver" in proving.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = proving.nope
