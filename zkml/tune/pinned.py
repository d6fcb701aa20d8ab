"""The reader of ``tuned.json``: the settings ``zkml tune`` chose for a workspace.

The pipeline applies them when it builds a circuit, and the tuner builds
pipelines, so this module imports neither: it depends on the config, the
workspace layout and the artifact hashes only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
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


__all__ = ["apply_tuned", "read_tuned"]
