"""tuned.json read back: pinned settings, applied all or nothing (no ezkl; the real file is in test_search)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from zkml.config import CircuitConfig, config_for_onnx
from zkml.errors import ConfigError
from zkml.tune.pinned import apply_tuned, read_tuned

PINNED = {
    "input_scale": 9,
    "param_scale": 9,
    "logrows": 11,
    "lookup_safety_margin": 1.0,
    "num_inner_cols": 4,
    "decomp_base": 256,
    "decomp_legs": 4,
}


def _config(tmp_path: Path) -> CircuitConfig:
    return config_for_onnx(tmp_path / "model.onnx")


def _write_tuned(workspace: Path, circuit: dict[str, Any], **extra: Any) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "tuned.json").write_text(json.dumps({"version": 1, "circuit": circuit, **extra}))


def test_no_tuned_json_changes_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert read_tuned(tmp_path) is None
    assert apply_tuned(config, tmp_path) is config


def test_read_tuned_drops_unset_values(tmp_path: Path) -> None:
    _write_tuned(tmp_path, {**PINNED, "num_inner_cols": None})
    assert read_tuned(tmp_path) == {k: v for k, v in PINNED.items() if k != "num_inner_cols"}


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 1}', '{"circuit": 3}'])
def test_unreadable_tuned_json_is_a_config_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "tuned.json").write_text(content)
    with pytest.raises(ConfigError, match="tuned.json is unreadable"):
        read_tuned(tmp_path)
    with pytest.raises(ConfigError, match="run zkml tune again"):
        apply_tuned(_config(tmp_path), tmp_path)


def test_apply_tuned_pins_every_setting(tmp_path: Path) -> None:
    _write_tuned(tmp_path, PINNED)
    applied = apply_tuned(_config(tmp_path), tmp_path)
    assert {k: getattr(applied.circuit, k) for k in PINNED} == PINNED


def test_a_setting_pinned_in_the_config_wins_as_a_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_tuned(tmp_path, PINNED)
    config = _config(tmp_path).with_circuit(input_scale=7)
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert apply_tuned(config, tmp_path) == config
    assert "pins ['input_scale'] itself" in caplog.text


def test_an_unknown_setting_applies_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write_tuned(tmp_path, {**PINNED, "future_knob": 3})
    config = _config(tmp_path)
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert apply_tuned(config, tmp_path) == config
    assert "future_knob" in caplog.text


def test_tuned_for_another_model_applies_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from zkml.artifacts import sha256_bytes

    (tmp_path / "model.onnx").write_bytes(b"the model now")
    config = _config(tmp_path)
    _write_tuned(tmp_path, PINNED, model_sha256=sha256_bytes(b"the model then"))
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert apply_tuned(config, tmp_path) == config
    assert "another model" in caplog.text
    _write_tuned(tmp_path, PINNED, model_sha256=sha256_bytes(b"the model now"))
    assert apply_tuned(config, tmp_path).circuit.logrows == 11


def test_pinned_imports_neither_the_pipeline_nor_the_search() -> None:
    """The pipeline imports zkml.tune.pinned; the reverse import would be the old cycle."""
    import subprocess
    import sys

    code = "import sys, zkml.tune.pinned; print(sorted(m for m in sys.modules if m.startswith(('zkml.', 'numpy', 'ezkl'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "zkml.pipeline" not in loaded and "zkml.tune.search" not in loaded
    assert "numpy" not in loaded and "ezkl" not in loaded


# -- fingerprints and committed tuned settings --------------------------------------------


def _onnx(path: Path, *, weight: float = 1.0, name: str = "w", producer: str = "torch 2.x") -> Path:
    """A one-node ONNX model (y = x @ W) whose names and producer can vary independently of what it computes."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((4, 2), weight, dtype=np.float32), name)
    node = helper.make_node("MatMul", ["x", name], ["y"], name=f"{name}_node")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        initializer=[w],
    )
    model = helper.make_model(graph, producer_name=producer)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def test_fingerprint_ignores_names_and_producer_but_not_weights(tmp_path: Path) -> None:
    from zkml.tune.pinned import model_fingerprint

    base = model_fingerprint(_onnx(tmp_path / "a.onnx"))
    assert model_fingerprint(_onnx(tmp_path / "b.onnx", name="onnx::MatMul_7", producer="torch 9")) == base
    assert model_fingerprint(_onnx(tmp_path / "c.onnx", weight=1.5)) != base


def _circuit_config(folder: Path) -> CircuitConfig:
    """A config loaded from a zkml.toml in ``folder`` (only such configs look for a committed tuned.json)."""
    from zkml.config import load_config

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zkml.toml").write_text('name = "m"\n[model]\nonnx = "model.onnx"\n')
    _onnx(folder / "model.onnx")
    return load_config(folder)


def test_find_tuned_prefers_the_workspace_then_the_committed_file(tmp_path: Path) -> None:
    from zkml.tune.pinned import find_tuned, model_fingerprint

    config = _circuit_config(tmp_path / "circuit")
    onnx_path = tmp_path / "circuit" / "model.onnx"
    fingerprint = model_fingerprint(onnx_path)
    ws = tmp_path / "ws"
    assert find_tuned(config, ws, onnx_path) is None
    _write_tuned(tmp_path / "circuit", PINNED, model_fingerprint=fingerprint, budget={"max_abs_error": 0.01})
    committed = find_tuned(config, ws, onnx_path)
    assert committed is not None and committed.source == "circuit" and committed.logrows == 11
    assert committed.budget == {"max_abs_error": 0.01}
    _write_tuned(ws, {**PINNED, "logrows": 12}, model_fingerprint=fingerprint)
    mine = find_tuned(config, ws, onnx_path)
    assert mine is not None and mine.source == "workspace" and mine.logrows == 12


def test_find_tuned_skips_a_file_made_for_another_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from zkml.tune.pinned import find_tuned

    config = _circuit_config(tmp_path / "circuit")
    _write_tuned(tmp_path / "circuit", PINNED, model_fingerprint="0" * 64)
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert find_tuned(config, tmp_path / "ws", tmp_path / "circuit" / "model.onnx") is None
    assert "another model" in caplog.text


def test_find_tuned_ignores_everything_when_the_config_pins_a_setting(tmp_path: Path) -> None:
    from zkml.tune.pinned import find_tuned, model_fingerprint

    config = _circuit_config(tmp_path / "circuit").with_circuit(decomp_base=1024)
    onnx_path = tmp_path / "circuit" / "model.onnx"
    _write_tuned(tmp_path / "circuit", PINNED, model_fingerprint=model_fingerprint(onnx_path))
    assert find_tuned(config, tmp_path / "ws", onnx_path) is None


def test_commit_tuned_copies_without_machine_paths(tmp_path: Path) -> None:
    from zkml.tune.pinned import commit_tuned

    circuit = tmp_path / "circuit"
    circuit.mkdir()
    _write_tuned(tmp_path / "ws", PINNED, holdout=str(circuit.resolve() / "holdout.json"), holdout_generated=False)
    written = commit_tuned(tmp_path / "ws", circuit)
    data = json.loads(written.read_text())
    assert written == circuit / "tuned.json" and data["circuit"] == PINNED and data["holdout"] == "holdout.json"
    with pytest.raises(ConfigError, match="run zkml tune first"):
        commit_tuned(tmp_path / "nothing", circuit)


def test_graph_fingerprint_ignores_weight_values_but_not_shapes_or_ops(tmp_path: Path) -> None:
    import numpy as np
    import onnx

    from zkml.tune.pinned import graph_fingerprint, model_fingerprint

    base = _onnx(tmp_path / "a.onnx")
    one_ulp = _onnx(tmp_path / "b.onnx", weight=float(np.nextafter(np.float32(1.0), np.float32(2.0))))
    assert model_fingerprint(one_ulp) != model_fingerprint(base)
    assert graph_fingerprint(one_ulp) == graph_fingerprint(base)
    # Another op on the same weights is another graph.
    proto = onnx.load(str(base))
    proto.graph.node[0].op_type = "Add"
    onnx.save(proto, str(tmp_path / "c.onnx"))
    assert graph_fingerprint(tmp_path / "c.onnx") != graph_fingerprint(base)


def test_graph_fingerprint_keeps_small_integer_tensors(tmp_path: Path) -> None:
    """A Reshape's target shape is part of the graph: two targets, two fingerprints."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from zkml.tune.pinned import graph_fingerprint

    def reshape(path: Path, target: list[int]) -> Path:
        shape = numpy_helper.from_array(np.array(target, dtype=np.int64), "shape")
        graph = helper.make_graph(
            [helper.make_node("Reshape", ["x", "shape"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, target)],
            initializer=[shape],
        )
        onnx.save(helper.make_model(graph), str(path))
        return path

    assert graph_fingerprint(reshape(tmp_path / "a.onnx", [2, 2])) != graph_fingerprint(reshape(tmp_path / "b.onnx", [4, 1]))


def test_find_tuned_takes_other_weights_of_the_same_graph_for_revalidation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from zkml.tune.pinned import find_tuned, graph_fingerprint

    config = _circuit_config(tmp_path / "circuit")
    onnx_path = tmp_path / "circuit" / "model.onnx"
    retrained = _onnx(tmp_path / "retrained.onnx", weight=1.25)
    _write_tuned(tmp_path / "circuit", PINNED, model_fingerprint="0" * 64, graph_fingerprint=graph_fingerprint(retrained))
    choice = find_tuned(config, tmp_path / "ws", onnx_path)
    assert choice is not None and not choice.exact and choice.logrows == 11
    # Another graph: refused as before.
    _write_tuned(tmp_path / "circuit", PINNED, model_fingerprint="0" * 64, graph_fingerprint="1" * 64)
    with caplog.at_level(logging.WARNING, logger="zkml.tune.pinned"):
        assert find_tuned(config, tmp_path / "ws", onnx_path) is None
    assert "tuned for another model" in caplog.text
