"""Compiler resolution and compilation (native solc and the pinned solcjs)."""

from __future__ import annotations

import time

import pytest

from zkml.errors import SolcNotFoundError, SolidityCompileError
from zkml.evm import solc

TINY = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract Tiny {\n    function f() external pure returns (uint256) { return 42; }\n}\n"


def test_solcjs_is_found_and_compiles() -> None:
    compiler = solc.find_compiler(kind="solcjs")
    assert compiler.kind == "solcjs"
    out = solc.compile_standard_json({"Tiny.sol": TINY}, compiler=compiler)
    tiny = out["Tiny"]
    assert tiny.runtime_size > 0 and tiny.bytecode.endswith(tiny.deployed_bytecode)
    assert tiny.compiler.version.startswith(compiler.short_version)
    assert tiny.compiler.as_dict()["optimizer"] == {"enabled": True, "runs": 1}


def test_compile_error_points_at_file_line_column() -> None:
    bad = TINY.replace("return 42;", "return ;;")
    with pytest.raises(SolidityCompileError, match=r"Tiny\.sol:4:\d+: \w+Error"):
        solc.compile_standard_json({"Tiny.sol": bad})


def test_no_compiler_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no solc
    monkeypatch.delenv("ZKML_SOLC", raising=False)
    monkeypatch.setattr(solc, "native_compilers", lambda: [])
    with pytest.raises(SolcNotFoundError, match="npm ci"):
        solc.find_compiler()


def test_explicit_missing_compiler(tmp_path) -> None:
    with pytest.raises(SolcNotFoundError, match="does not exist"):
        solc.find_compiler(tmp_path / "nope" / "solc")


def test_native_and_solcjs_give_identical_bytecode(request: pytest.FixtureRequest) -> None:
    natives = solc.native_compilers()
    js = solc.find_compiler(kind="solcjs")
    same = [c for c in natives if c.short_version == js.short_version]
    if not same:
        pytest.skip(f"no native solc {js.short_version} installed (found: {[c.version for c in natives] or 'none'})")
    plain_verifier = request.getfixturevalue("plain_verifier")
    source = {"Verifier.sol": plain_verifier.sol_path.read_text()}
    t0 = time.perf_counter()
    native = solc.compile_standard_json(source, compiler=same[0])
    t1 = time.perf_counter()
    viajs = solc.compile_standard_json(source, compiler=js)
    t2 = time.perf_counter()
    print(f"compile seconds: native {t1 - t0:.2f}, solcjs {t2 - t1:.2f}")
    assert native["Halo2Verifier"].deployed_bytecode == viajs["Halo2Verifier"].deployed_bytecode
    assert native["Halo2Verifier"].bytecode == viajs["Halo2Verifier"].bytecode
