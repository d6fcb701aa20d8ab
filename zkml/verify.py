"""Verify: check a proof locally against the verifying key.

An invalid proof is a result (``verified=False`` with ezkl's reason), not an
error: tampering is exactly what verification exists to catch.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from zkml import _ezkl
from zkml.artifacts import Keys, Proof, Settings, Srs, VerifyResult
from zkml.prove import proof_size

log = logging.getLogger(__name__)


def verify(proof: Proof, settings: Settings, keys: Keys, srs: Srs) -> VerifyResult:
    """Verify ``proof`` with the circuit's settings and verifying key.

    Raises:
        ProofError: the proof file is not an ezkl proof at all.
    """
    proof_size(proof.path)  # unreadable JSON is an error, not a verdict
    start = time.perf_counter()
    try:
        ok = bool(_ezkl.call("verify", str(proof.path), str(settings.path), str(keys.vk_path), srs_path=str(srs.path)))
        reason = "" if ok else "verifier returned false"
    except _ezkl.EzklFailure as exc:
        ok, reason = False, str(exc).removeprefix("ezkl.verify: ").removeprefix("Failed to run verify: ")
    seconds = time.perf_counter() - start
    log.info("verify %s: %s %s", Path(proof.path).name, ok, reason)
    return VerifyResult(ok, reason, seconds)
