"""Verifier generation, size check, VKAs and calldata encoding."""

from __future__ import annotations

import pytest

from zkml.artifacts import sha256_file
from zkml.errors import ContractTooLargeError, EvmError
from zkml.evm.verifier import BIN_NAME, EIP170_LIMIT, check_runtime_size, choose_verifier_kind, load_verifier, read_vka


def test_plain_verifier_files_and_metadata(plain_verifier, mlp) -> None:
    v = plain_verifier
    for path in (v.sol_path, v.abi_path, v.bin_path, v.record_path):
        assert path.is_file()
    assert v.sol_path.name == "Verifier.sol" and v.abi_path.name == "Verifier.abi.json" and v.bin_path.name == "Verifier.bin"
    assert v.contract_name == "Halo2Verifier" and not v.reusable
    assert v.vk_sha256 == sha256_file(mlp.vk)
    assert 5_000 < v.runtime_bytes < EIP170_LIMIT
    assert any(item.get("name") == "verifyProof" for item in v.abi())
    assert len(v.creation_code()) == v.creation_bytes


def test_reusable_verifier_is_circuit_independent(reusable_verifier, tiny, tmp_path) -> None:
    from zkml.evm.verifier import generate_verifier

    b = tiny
    other = generate_verifier(b.vk, b.settings, b.srs, tmp_path / "rb", reusable=True)
    assert other.runtime_sha256 == reusable_verifier.runtime_sha256
    assert other.contract_name == "Halo2VerifierReusable"


def test_load_verifier_detects_tampering(plain_verifier, copy_verifier) -> None:
    folder = copy_verifier(plain_verifier)
    assert load_verifier(folder).runtime_sha256 == plain_verifier.runtime_sha256
    (folder / BIN_NAME).write_text("00")
    with pytest.raises(EvmError, match="changed"):
        load_verifier(folder)


def test_missing_inputs_are_reported(tmp_path, mlp) -> None:
    from zkml.evm.verifier import generate_verifier

    with pytest.raises(EvmError, match="verifying key"):
        generate_verifier(tmp_path / "nope.key", mlp.settings, mlp.srs, tmp_path / "out")


def test_eip170_size_check() -> None:
    check_runtime_size(EIP170_LIMIT)
    with pytest.raises(ContractTooLargeError, match=r"24,577 bytes.*24,576") as info:
        check_runtime_size(EIP170_LIMIT + 1)
    assert "reusable" in str(info.value) and "L2" in str(info.value)
    assert info.value.size == EIP170_LIMIT + 1
    check_runtime_size(EIP170_LIMIT + 1, allow_oversize=True)


def test_plain_verifier_while_it_fits_eip170_else_reusable() -> None:
    """The plain-vs-reusable decision is a pure function of the plain verifier's size: no chain, no files."""
    assert EIP170_LIMIT == 24_576  # mainnet's limit; every other place imports this constant
    assert choose_verifier_kind(13_381) == "plain"
    assert choose_verifier_kind(EIP170_LIMIT) == "plain"  # at the limit still deploys
    assert choose_verifier_kind(EIP170_LIMIT + 1) == "reusable"
    # Without the fallback an oversized plain verifier stays plain: deployment then refuses it.
    assert choose_verifier_kind(EIP170_LIMIT + 1, fallback=False) == "plain"
    assert choose_verifier_kind(1_000, fallback=False) == "plain"


def test_the_limit_is_read_when_deciding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests lower the module's limit to exercise the fallback on a small circuit; the decision must follow it."""
    import zkml.evm.verifier as verifier

    monkeypatch.setattr(verifier, "EIP170_LIMIT", 1_000)
    assert choose_verifier_kind(1_001) == "reusable" and choose_verifier_kind(1_000) == "plain"


def test_vka_digest_and_words(vkas) -> None:
    a, b = vkas
    assert a.digest != b.digest and a.words and all(len(w) == 32 for w in a.words)
    assert read_vka(a.path).digest == a.digest
