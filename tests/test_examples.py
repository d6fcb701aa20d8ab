"""Every example circuit end to end, on-chain included (slow: `make test-slow`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.config import load_config
from zkml.evm.verifier import EIP170_LIMIT
from zkml.flow import run_pipeline
from zkml.pipeline import Pipeline
from zkml.workspace import Workspace

from .conftest import CIRCUITS

EXAMPLES = sorted(p.name for p in CIRCUITS.iterdir() if (p / "zkml.toml").is_file())


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_end_to_end_and_reuses_keys(name: str, tmp_path: Path) -> None:
    config = load_config(CIRCUITS / name)
    summary = run_pipeline(Pipeline(config, Workspace(tmp_path / name)), chain=True)
    assert summary.verified, summary.verify_reason
    assert summary.onchain is not None and summary.onchain.accepted
    assert summary.onchain.verifier_runtime_bytes <= EIP170_LIMIT
    fidelity = summary.fidelity
    assert fidelity is not None
    if config.task == "classification":
        assert fidelity.argmax_agreement is not None and fidelity.argmax_agreement >= 0.95
    # The on-chain decoded outputs are the circuit's outputs.
    assert list(summary.onchain.outputs) == pytest.approx(list(summary.outputs), abs=1e-9)
    # Only a circuit that declares a [consumer] goes on to the oracle demo.
    assert (summary.demo is not None) == (config.consumer is not None)

    again = Pipeline(config, Workspace(tmp_path / name))
    second = again.run()
    assert second.verified
    assert {t.stage: t.reused for t in again.timings}["keys"] is True


# What differs between machines, emulated on this one: torch's kernels without SIMD
# (an older or another vector unit), and one thread (another core count).
ANOTHER_MACHINE = {
    "this machine": {},
    "one thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "no SIMD": {"ATEN_CPU_CAPABILITY": "default"},
}
_EXPORT_ALL = """
import hashlib, sys
from pathlib import Path
from zkml.config import load_config
from zkml.export import export_model, load_callable
for folder in sys.argv[2:]:
    config = load_config(Path(folder))
    build = load_callable(config.factory, config.root)
    example = load_callable(config.example_input, config.root)()
    out = Path(sys.argv[1]) / (config.name + ".onnx")
    export_model(build(), out, example_input=example)
    print(config.name, hashlib.sha256(out.read_bytes()).hexdigest())
"""


def test_examples_export_the_same_onnx_bytes_on_another_machine(tmp_path: Path) -> None:
    """Committed weights make every example's ONNX the same bytes under any thread count and vector unit."""
    import os
    import subprocess
    import sys

    folders = [str(CIRCUITS / name) for name in EXAMPLES]
    digests = {}
    for label, env in ANOTHER_MACHINE.items():
        out = tmp_path / label.replace(" ", "_")
        out.mkdir()
        run = subprocess.run(
            [sys.executable, "-c", _EXPORT_ALL, str(out), *folders], env={**os.environ, **env}, capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, run.stderr[-2000:]
        digests[label] = dict(line.split() for line in run.stdout.splitlines())
    assert set(digests["this machine"]) == set(EXAMPLES)
    for label in ANOTHER_MACHINE:
        assert digests[label] == digests["this machine"], label
