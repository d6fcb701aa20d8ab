"""How the CLI shows progress and results: a stage progress bar and the run summary table."""

from __future__ import annotations

import sys
from typing import Any

import click


class StageProgress:
    """Renders pipeline progress on stderr: a bar over the stages, a line per stage."""

    def __init__(self, total: int) -> None:
        self.bar = click.progressbar(length=total, label="zkml", file=sys.stderr, show_eta=False, show_pos=True, item_show_func=lambda s: s)
        self.bar.__enter__()
        self.current = ""

    def __call__(self, event: Any) -> None:
        if event.state == "start":
            self.current = event.stage
            self.bar.update(0, event.stage)
        elif event.state == "step":
            self.bar.update(0, f"{event.stage} {event.step}/{event.total}")
        elif event.state in ("done", "reused"):
            self.bar.update(1, f"{event.stage} {'reused' if event.state == 'reused' else f'{event.seconds:.1f}s'}")

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


def format_summary(payload: dict[str, Any]) -> str:
    """The run summary as a small text table."""
    lines = [f"circuit {payload['name']}  (workspace {payload['workspace']})", "", f"  {'stage':<16}{'seconds':>10}  note"]
    for stage in payload["stages"]:
        note = "reused" if stage["reused"] else ""
        lines.append(f"  {stage['stage']:<16}{stage['seconds']:>10.2f}  {note}")
    fidelity = payload.get("fidelity") or {}
    lines.append("")
    lines.append(f"  logrows        {payload['logrows']}")
    if payload.get("settings"):
        lines.append(f"  settings       {payload['settings']}")
    if payload.get("settings_revalidation"):
        lines.append(f"                 {payload['settings_revalidation']}")
    if payload.get("estimate_line"):
        lines.append(f"  estimate       {payload['estimate_line']}")
    lines.append(f"  proof bytes    {payload['proof_bytes']}")
    if fidelity:
        agreement = fidelity.get("argmax_agreement")
        lines.append(
            f"  fidelity       max abs err {fidelity['max_abs_error']:.4g}, mean abs err {fidelity['mean_abs_error']:.4g} on {fidelity['samples']} samples"
            + (f", argmax agreement {agreement:.1%}" if agreement is not None else "")
        )
    if payload.get("outputs"):
        lines.append(f"  outputs        {', '.join(f'{v:.6g}' for v in payload['outputs'][:10])}")
    srs = payload.get("srs_provenance")
    lines.append(f"  srs            {srs}{'  (development only, unsafe)' if srs == 'dev-unsafe' else ''}")
    if "verifier_runtime_bytes" in payload:
        from zkml.evm.verifier import EIP170_LIMIT

        lines.append(f"  verifier       {payload['verifier_runtime_bytes']:,} runtime bytes (EIP-170 limit {EIP170_LIMIT:,})")
        reused = " (already deployed, reused)" if payload.get("deploy_reused") else ""
        lines.append(
            f"  deployed       {payload['verifier_address']} on chain {payload['chain_id']}, {payload['deploy_gas']:,} gas{reused}"
        )
        verdict = "accepted" if payload["onchain_accepted"] else "REJECTED"
        lines.append(f"  on-chain       {verdict}, {payload['verify_gas']:,} gas, calldata {payload['calldata_bytes']:,} bytes")
        lines.append(f"  on-chain outs  {', '.join(f'{v:.6g}' for v in payload['onchain_outputs'][:10])}")
    oracle = payload.get("oracle")
    if oracle:
        gas = oracle.get("gas", {})
        prediction = oracle.get("prediction") or {}
        published = "already published, read back" if oracle.get("replayed") else f"published, {gas.get('submit') or 0:,} gas"
        per, submit = gas.get("submit_per_prediction"), gas.get("submit") or 0
        if per and per != submit and not oracle.get("replayed"):  # a batch: one proof of B epochs
            published += f" for {round(submit / per)} epochs ({per:,} per prediction)"
        values = ", ".join(f"{v:.6g}" for v in prediction.get("floats", [])[:10])
        if oracle.get("feed_address"):
            lines.append(f"  feed           {oracle['feed_address']}: epoch {oracle['epoch']}, source {oracle['source_address']}")
        lines.append(f"  oracle         {oracle['oracle_address']}: attested prediction [{values}] {published}")
        consumer = oracle.get("consumer") or {}
        note = oracle.get("consumer_note") or ""
        acted = f"target risky allocation {consumer.get('target_risky_bps')} bps" + (
            f" ({note})" if note else f", {gas.get('act') or 0:,} gas"
        )
        lines.append(f"  DeFi consumer  ForecastVault {oracle['consumer_address']}: {acted}")
    lines.append(f"  verified       {payload['verified']}" + (f" ({payload['verify_reason']})" if payload.get("verify_reason") else ""))
    return "\n".join(lines)
