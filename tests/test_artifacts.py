"""The run summary's typed parts print the JSON `zkml run --json` always printed."""

from __future__ import annotations

from pathlib import Path

from zkml.artifacts import OnchainRun, RunSummary

PLAIN = OnchainRun(
    chain_id=31337, verifier_address="0x" + "ab" * 20, verifier_runtime_bytes=13_381, deploy_gas=2_946_445, deploy_reused=False,
    verify_gas=546_677, calldata_bytes=3_492, accepted=True, outputs=(-0.03,),
)  # fmt: skip


def test_plain_onchain_keys() -> None:
    assert PLAIN.as_dict() == {
        "chain_id": 31337, "verifier_address": "0x" + "ab" * 20, "verifier_runtime_bytes": 13_381, "deploy_gas": 2_946_445,
        "deploy_reused": False, "verify_gas": 546_677, "calldata_bytes": 3_492, "onchain_accepted": True, "onchain_outputs": [-0.03],
    }  # fmt: skip


def test_reusable_onchain_keys_and_the_summary_merges_them(tmp_path: Path) -> None:
    from dataclasses import replace

    reusable = replace(
        PLAIN, verifier_kind="reusable+vka", fallback_note="over EIP-170", reusable_verifier_runtime_bytes=10_846,
        vka_digest="0x" + "01" * 32, vka_register_gas=352_980,
    )  # fmt: skip
    data = reusable.as_dict()
    assert (data["verifier_kind"], data["verifier_fallback"], data["vka_register_gas"]) == ("reusable+vka", "over EIP-170", 352_980)
    summary = RunSummary("m", tmp_path, extra={"settings": "tuned"}, onchain=reusable)
    printed = summary.as_dict()
    assert printed["settings"] == "tuned" and printed["onchain_accepted"] is True and "oracle" not in printed
    assert "onchain_accepted" not in RunSummary("m", tmp_path).as_dict()
