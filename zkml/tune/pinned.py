"""The reader of ``tuned.json``: the settings ``zkml tune`` chose for a model.

A ``tuned.json`` lives in a workspace (written by ``zkml tune`` or by
``zkml run`` tuning for a ``[budget]``) or, committed, in a circuit folder
(written by ``zkml tune --all --write``). Either is used only while its
:func:`model_fingerprint` matches the model being built. The pipeline applies
them when it calibrates, and the tuner builds pipelines, so this module
imports neither: it depends on the config, the workspace layout and the
artifact hashes only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.errors import ConfigError
from zkml.workspace import Layout

if TYPE_CHECKING:
    from zkml.config import CircuitConfig

log = logging.getLogger(__name__)


def _load(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``tuned.json`` and the settings it pins (those that are not null), or None without one."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return data, {k: v for k, v in dict(data["circuit"]).items() if v is not None}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is unreadable: {exc}", hint="run zkml tune again, or delete it") from exc


def read_tuned(workspace_root: Path) -> dict[str, Any] | None:
    """The pinned circuit settings ``zkml tune`` chose for a workspace, if any.

    Returns:
        The ``circuit`` table of ``tuned.json`` (keys as in ``[circuit]``), or None.

    Raises:
        ConfigError: ``tuned.json`` exists but is unreadable.
    """
    loaded = _load(Layout(workspace_root).tuned)
    return None if loaded is None else loaded[1]


def apply_tuned(config: CircuitConfig, workspace_root: Path) -> CircuitConfig:
    """``config`` with the settings ``zkml tune`` chose for this workspace pinned.

    All or nothing: the tuner measured one combination, so when ``[circuit]``
    already pins any of those settings itself, ``tuned.json`` is ignored (with
    a warning) rather than mixed into an unmeasured combination. It is also
    ignored when the workspace's model is no longer the one it was tuned for,
    and when :class:`zkml.config.CircuitSettings` lacks one of its settings.

    Raises:
        ConfigError: ``tuned.json`` exists but is unreadable.
    """
    from zkml.artifacts import sha256_file
    from zkml.config import CircuitSettings

    layout = Layout(workspace_root)
    loaded = _load(layout.tuned)
    if loaded is None or not loaded[1]:
        return config
    data, pinned = loaded
    expected_model = data.get("model_sha256")
    if expected_model and layout.onnx.is_file() and sha256_file(layout.onnx) != expected_model:
        log.warning("%s was tuned for another model; ignoring it (run zkml tune again)", layout.tuned)
        return config
    defaults = CircuitSettings()
    known = {f.name for f in fields(CircuitSettings)}
    overridden = sorted(k for k in pinned if k in known and getattr(config.circuit, k) != getattr(defaults, k))
    if overridden:
        log.warning("[circuit] pins %s itself; ignoring %s (run zkml tune again to tune around them)", overridden, layout.tuned)
        return config
    unknown = sorted(set(pinned) - known)
    if unknown:
        # Pinning only some of them would build a combination nobody measured.
        log.warning("this zkml cannot pin tuned settings %s; ignoring %s", unknown, layout.tuned)
        return config
    return config.with_circuit(**pinned)


@dataclass(frozen=True)
class TunedChoice:
    """Tuned settings that apply to a model, and where they came from.

    Attributes:
        source: ``workspace`` (``zkml tune`` or a ``[budget]`` run) or ``circuit`` (committed).
        path: the ``tuned.json`` read.
        pinned: the ``[circuit]`` settings it pins (non-null values).
        budget: the accuracy budget it was tuned for (``[budget]`` form), if recorded.
        data: the whole file (measured numbers, baseline).
        exact: made for these very weights (:func:`model_fingerprint`); False when only
            the graph matches (:func:`graph_fingerprint`: retrained, or exported on another
            CPU) and the settings must be re-validated on held-out data before use.
    """

    source: str
    path: Path
    pinned: dict[str, Any]
    budget: dict[str, float] | None
    data: dict[str, Any]
    exact: bool = True

    @property
    def logrows(self) -> int | None:
        """The pinned logrows, if any."""
        value = self.pinned.get("logrows")
        return int(value) if value is not None else None


# Integer tensors up to this size are part of the graph (shapes, axes, indices); larger ones are weights.
STRUCTURAL_INT_SIZE = 64


def model_fingerprint(onnx_path: Path) -> str:
    """A digest of what an ONNX model computes, not of how its file is spelled.

    Ops and their attributes in graph order, the weights' shapes, types and
    values, and the input/output shapes; names, producer and doc strings are
    left out, so the same model exported by another torch version (which
    renames nodes and stamps its version) keeps its fingerprint, and committed
    tuned settings keep applying.
    """
    return _digest(onnx_path, weight_values=True)


def graph_fingerprint(onnx_path: Path) -> str:
    """A digest of the model's graph without its weight values: what tuned settings are bound to.

    As :func:`model_fingerprint`, except that float tensors (and integer
    tensors larger than :data:`STRUCTURAL_INT_SIZE`, i.e. quantized weights)
    count by type and shape only. The same model retrained, on another CPU or
    after a torch upgrade, keeps it; another architecture does not.
    """
    return _digest(onnx_path, weight_values=False)


def _digest(onnx_path: Path, *, weight_values: bool) -> str:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    digest = hashlib.sha256()

    def tensor(value: onnx.TensorProto) -> str:
        array = numpy_helper.to_array(value)
        head = f"{array.dtype}{list(array.shape)}"
        structural = array.dtype.kind in "iub" and array.size <= STRUCTURAL_INT_SIZE
        if not (weight_values or structural):
            return head
        return head + hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()

    def plain(value: Any) -> Any:
        if isinstance(value, onnx.TensorProto):
            return tensor(value)
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (int, float, str)):
            return value
        # Subgraphs (If/Loop bodies) and other protos: their serialized form.
        return hashlib.sha256(value.SerializeToString()).hexdigest()

    digest.update(json.dumps(sorted(plain(t) for t in graph.initializer)).encode())
    for node in graph.node:
        attrs = [[a.name, plain(onnx.helper.get_attribute_value(a))] for a in sorted(node.attribute, key=lambda a: a.name)]
        digest.update(json.dumps([node.domain, node.op_type, attrs]).encode())
    for value_info in (*graph.input, *graph.output):
        dims = [d.dim_value or d.dim_param for d in value_info.type.tensor_type.shape.dim]
        digest.update(json.dumps([value_info.type.tensor_type.elem_type, dims]).encode())
    return digest.hexdigest()


def _conflict(config: CircuitConfig, pinned: dict[str, Any], path: Path) -> str | None:
    """Why ``pinned`` cannot apply to ``config`` (all or nothing), or None when it can."""
    from zkml.config import CircuitSettings

    defaults = CircuitSettings()
    known = {f.name for f in fields(CircuitSettings)}
    overridden = sorted(k for k in pinned if k in known and getattr(config.circuit, k) != getattr(defaults, k))
    if overridden:
        return f"[circuit] pins {overridden} itself; ignoring {path} (run zkml tune again to tune around them)"
    unknown = sorted(set(pinned) - known)
    if unknown:
        # Pinning only some of them would build a combination nobody measured.
        return f"this zkml cannot pin tuned settings {unknown}; ignoring {path}"
    return None


def _match(data: dict[str, Any], onnx_path: Path, fingerprints: tuple[str, str]) -> str | None:
    """How a ``tuned.json`` fits this model: ``exact`` (same weights), ``graph`` (same graph, other weights) or None.

    Files written before graph fingerprints existed match exactly or not at all.
    """
    from zkml.artifacts import sha256_file

    model, graph = fingerprints
    if data.get("model_fingerprint"):
        if data["model_fingerprint"] == model:
            return "exact"
        return "graph" if data.get("graph_fingerprint") == graph else None
    expected = data.get("model_sha256")
    return "exact" if not expected or expected == sha256_file(onnx_path) else None


def find_tuned(config: CircuitConfig, workspace_root: Path, onnx_path: Path) -> TunedChoice | None:
    """The tuned settings that apply to the model at ``onnx_path``: the workspace's, else the circuit folder's.

    A file made for these very weights applies as it is; one made for the same
    graph with other weights applies with ``exact=False`` (the caller re-validates
    it, :mod:`zkml.tune.revalidate`). A file made for another graph, or whose
    settings ``[circuit]`` pins itself, is skipped with a warning.

    Raises:
        ConfigError: a ``tuned.json`` exists but is unreadable.
    """
    fingerprints = (model_fingerprint(onnx_path), graph_fingerprint(onnx_path))
    places = [("workspace", Layout(workspace_root).tuned)]
    if config.source is not None:
        places.append(("circuit", Layout(config.root).tuned))
    for source, path in places:
        loaded = _load(path)
        if loaded is None or not loaded[1]:
            continue
        data, pinned = loaded
        match = _match(data, onnx_path, fingerprints)
        if match is None:
            log.warning("%s was tuned for another model; ignoring it (run zkml tune again)", path)
            continue
        conflict = _conflict(config, pinned, path)
        if conflict:
            log.warning("%s", conflict)
            return None
        return TunedChoice(source, path, pinned, data.get("budget"), data, exact=match == "exact")
    return None


def commit_tuned(workspace_root: Path, circuit_root: Path) -> Path:
    """Copy a workspace's ``tuned.json`` into its circuit folder, where later runs (and clones) find it.

    Paths inside are made relative to the circuit folder (or dropped), so the
    committed file does not name this machine's folders.

    Raises:
        ConfigError: the workspace has no (readable) ``tuned.json``.
    """
    from zkml.workspace import write_json_atomic

    loaded = _load(Layout(workspace_root).tuned)
    if loaded is None:
        raise ConfigError(f"{Layout(workspace_root).tuned} does not exist", hint="run zkml tune first")
    data = dict(loaded[0])
    holdout = str(data.get("holdout") or "")
    root = str(Path(circuit_root).resolve())
    data["holdout"] = holdout.replace(root + "/", "") if not data.get("holdout_generated") else "generated"
    target = Layout(circuit_root).tuned
    write_json_atomic(target, data)
    return target


__all__ = ["TunedChoice", "apply_tuned", "commit_tuned", "find_tuned", "graph_fingerprint", "model_fingerprint", "read_tuned"]
