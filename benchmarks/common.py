"""Shared helpers for the benchmark scripts: machine description and table writing."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
CIRCUITS = Path(__file__).resolve().parent.parent / "circuits"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), ""
        )
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_results(
    name: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]], title: str, notes: str = "", *, results: Path = RESULTS
) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` (a markdown table) into ``results`` (default: benchmarks/results)."""
    results.mkdir(parents=True, exist_ok=True)
    info = machine()
    (results / f"{name}.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    lines = [
        f"# {title}",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}, {info['date']}.",
        "",
    ]
    if notes:
        lines += [notes, ""]
    lines.append("| " + " | ".join(header for _, header in columns) + " |")
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key, "")
            cells.append(f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    path = results / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path
