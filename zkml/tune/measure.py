"""Real key setup, proving and verification of one candidate, each in a child process.

A child process per step lets the tuner measure proving's own peak memory and
keeps a crash inside ezkl from taking the caller down. The child runs
:func:`_child_main` (``python -m zkml.tune.measure SPEC``).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from zkml.errors import KeysError, ProofError, ZkmlError
from zkml.workspace import Layout

log = logging.getLogger(__name__)


def measure_proving(compiled: Path, settings: Path, srs: Path, input_path: Path, work: Path, *, repeats: int = 1) -> dict[str, Any]:
    """Set up keys, then prove and verify one sample, in child processes; measure them.

    Setup and proving run in separate children so the peak resident memory
    reported is that of proving alone (it includes the interpreter and ezkl,
    about the same for every candidate).

    Args:
        compiled: the compiled circuit.
        settings: its settings file.
        srs: an SRS of at least the circuit's logrows.
        input_path: one sample in ezkl's ``input_data`` format.
        work: folder for keys, witness and proof.
        repeats: prove this many times and keep the fastest (timing noise).

    Returns:
        ``setup_seconds``, ``setup_peak_rss_bytes``, ``pk_bytes``, ``prove_seconds``,
        ``verify_seconds``, ``prove_peak_rss_bytes``, ``verified``.

    Raises:
        KeysError, ProofError: the child failed (its last error line is in the message).
    """
    job = {"compiled": str(compiled), "settings": str(settings), "srs": str(srs), "input": str(input_path), "work": str(work)}
    setup = _run_child("setup", job, KeysError)
    best: dict[str, Any] | None = None
    for _ in range(max(1, repeats)):
        proved = _run_child("prove", job, ProofError)
        if best is None or proved["prove_seconds"] < best["prove_seconds"]:
            best = proved
    assert best is not None
    return {
        "setup_seconds": setup["setup_seconds"],
        "setup_peak_rss_bytes": setup["peak_rss_bytes"],
        "pk_bytes": setup.get("pk_bytes"),
        "prove_seconds": best["prove_seconds"],
        "verify_seconds": best["verify_seconds"],
        "prove_peak_rss_bytes": best["peak_rss_bytes"],
        "verified": best["verified"],
    }


def discard_proving_files(work: Path) -> None:
    """Delete the keys, witness and proof :func:`measure_proving` left in ``work``.

    Keys are 100+ MB each; a tuning run must not leave one per candidate behind.
    """
    layout = Layout(work)
    for path in (layout.pk, layout.vk, layout.keys_binding, layout.proof, layout.witness):
        path.unlink(missing_ok=True)


def _run_child(mode: str, job: dict[str, str], error: type[ZkmlError]) -> dict[str, Any]:
    out = Path(job["work"]) / f"{mode}.result.json"
    out.unlink(missing_ok=True)
    spec = json.dumps({**job, "mode": mode, "out": str(out)})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-m", __name__, spec],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise error(f"{mode} in a child process failed: {tail[0]}", hint="run zkml setup/prove on these settings with --debug")
    result: dict[str, Any] = json.loads(out.read_text())
    # RUSAGE_CHILDREN keeps the max over all children so far (and inherits the
    # parent's peak); the child's own VmHWM is per-child, so that is the
    # number used. Log both for checking.
    log.debug(
        "%s child: self-reported peak %d bytes, children max %d KiB (before %d)",
        mode,
        result["peak_rss_bytes"],
        after.ru_maxrss,
        before.ru_maxrss,
    )
    return result


def _peak_rss_bytes() -> int:
    """This process's peak resident memory.

    /proc's VmHWM belongs to the address space, which exec replaces, so it is
    the child's own peak. ru_maxrss is not: Linux carries it across fork and
    exec, so a child of a 500 MB parent reports at least 500 MB (measured).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _child_main() -> None:
    """Entry point of the measuring child process (not public API): the job is ``sys.argv[1]``."""
    from zkml.artifacts import CompiledCircuit, Srs, sha256_file
    from zkml.circuit import generate_witness
    from zkml.keys import load_keys, setup_keys
    from zkml.prove import prove
    from zkml.settings import read_settings
    from zkml.srs import read_logrows
    from zkml.verify import verify

    job = json.loads(sys.argv[1])
    work = Layout(Path(job["work"]))
    settings = read_settings(Path(job["settings"]))
    circuit = CompiledCircuit(Path(job["compiled"]), sha256_file(Path(job["compiled"])), settings)
    srs_path = Path(job["srs"])
    srs = Srs(srs_path, sha256_file(srs_path), read_logrows(srs_path), "dev-unsafe")
    result: dict[str, Any] = {}
    if job["mode"] == "setup":
        start = time.perf_counter()
        keys = setup_keys(circuit, srs, work.root)
        result["setup_seconds"] = time.perf_counter() - start
        result["pk_bytes"] = keys.pk_path.stat().st_size
    else:
        keys = load_keys(work.root, verify_hashes=False)
        witness = generate_witness(circuit, Path(job["input"]), work.witness)
        start = time.perf_counter()
        proof = prove(witness, circuit, keys, srs, work.proof)
        result["prove_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        verdict = verify(proof, settings, keys, srs)
        result["verify_seconds"] = time.perf_counter() - start
        result["verified"] = bool(verdict.verified)
    result["peak_rss_bytes"] = _peak_rss_bytes()
    Path(job["out"]).write_text(json.dumps(result))


__all__ = ["discard_proving_files", "measure_proving"]

if __name__ == "__main__":
    _child_main()
