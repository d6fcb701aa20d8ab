"""Graph rewrites at export: exact replacements for what ezkl 23 compiles wrongly or cannot fit.

ezkl compiles some valid ops into circuits that prove the wrong value (see
:data:`zkml.preflight.UNSUPPORTED_OPS`), and cannot calibrate some common
patterns at any scale. Where there is an exact equivalent built from what
ezkl gets right, the exported model carries the equivalent instead, so the
model is proved rather than refused:

- What the graph computes from shapes and constants alone (``Shape -> Gather
  -> Slice`` bounds, ``Reshape`` targets, masks built by ``Range``,
  ``ConstantOfShape``, ``Trilu``, ``Equal``, ``Cast``) becomes constants
  once the shapes are static (:mod:`zkml.rewrite.fold`), as a newer exporter
  would have written it; the rewrites below then see those constants.
- ``Equal(a, b)`` on numbers becomes ``Not(Or(Less(a, b), Greater(a, b)))``.
  ezkl gives a true ``Equal`` the value ``2**-scale`` instead of 1; the
  comparisons and boolean ops it gets right (measured on ezkl 23.0.5 by
  proving both forms, ``tests/test_rewrite.py``). The two agree on every
  number; they differ only on NaN, which a fixed-point circuit cannot hold.
- ``Equal(a, b)`` on booleans becomes ``Not(Xor(a, b))``.
- ``Softmax(S + M)`` with a constant additive mask ``M`` (entries at or below
  ``-1e3``, e.g. the ``-1e4``/``-1e9``/``-inf`` of a causal
  attention mask, or torch's ``masked_fill(mask, -inf)``: a ``Where`` with a
  constant condition; also when the masked scores are then scaled by a
  positive constant, e.g. ``(S + M) / sqrt(d)``; a mask or scale the exporter
  left as ops on constants, e.g. ``Equal(Slice(tril), 0)``, is computed ahead,
  :func:`zkml.rewrite.graph.constant_values`) becomes the masked softmax it
  stands for::

      m = ReduceMax(S + floor(M)); e = Exp(S + kept(M) - m) * keep(M); e / ReduceSum(e)

  where ``keep`` is 1 off the mask and 0 on it, ``kept`` is ``M`` with masked
  entries 0, and ``floor`` puts masked entries at ``-1e4`` (so ``m`` is
  the row's unmasked maximum whenever masked scores are not ``1e4``
  above it; any ``m`` gives the same result, it only keeps ``Exp`` in range).
  ezkl evaluates ``Exp`` through a lookup table over its whole input range,
  so the mask's ``-1e5`` makes that table about ``1e5 * 2**scale * 2`` rows
  and no scale fits ("could not find any suitable parameters"); factored out,
  the table spans only the scores. In float arithmetic the two agree to
  rounding: a masked entry's ``exp`` is exactly 0 in float32 once its score
  is more than ~100 below the row maximum, which a ``-1e3`` mask ensures
  while the scores' spread stays under ~900. Rows with nothing left unmasked
  are left as they are (the original spreads them evenly; this would divide
  by zero).

Every rewrite is exact up to float rounding, so the float reference of the
rewritten model is the original model's. The rewrites applied are recorded in the model's metadata
(:data:`METADATA_KEY`), where :func:`recorded_rewrites` reads them back for
the fidelity report and ``zkml run``'s summary. ``ZKML_NO_REWRITES=1`` exports
graphs exactly as given.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

# Bump when a rewrite changes, so cached exports are redone.
REWRITES_VERSION = 5
METADATA_KEY = "zkml.rewrites"
# Set (to anything but 0) to export graphs exactly as given, e.g. to compare with bare ezkl.
NO_REWRITES_ENV = "ZKML_NO_REWRITES"


def rewrites_enabled() -> bool:
    """False when :data:`NO_REWRITES_ENV` turns the rewrites off."""
    return os.environ.get(NO_REWRITES_ENV, "0") in ("", "0")


def rewrites_key() -> str:
    """What the rewrites contribute to the export stage's fingerprint."""
    return f"v{REWRITES_VERSION}" if rewrites_enabled() else "off"


def rewrite_for_ezkl(model: onnx.ModelProto) -> list[str]:
    """Fold shape computations, and replace ops ezkl miscompiles by exact equivalents, in place.

    Args:
        model: an ``onnx.ModelProto`` with static shapes.

    Returns:
        One line per rewritten node (empty when nothing changed); also
        recorded in the model's metadata.
    """
    from zkml.rewrite.equal import lower_equal
    from zkml.rewrite.fold import fold_shapes
    from zkml.rewrite.softmax import factor_softmax_masks

    if not rewrites_enabled():
        log.info("graph rewrites are off (%s)", NO_REWRITES_ENV)
        return []
    # Folding first: a mask computed from shapes is a constant the other rewrites can see.
    notes = fold_shapes(model)
    notes += lower_equal(model) + factor_softmax_masks(model)
    if notes:
        _record(model, notes)
        log.info("rewrote %d node(s) for ezkl: %s", len(notes), "; ".join(notes))
    return notes


def recorded_rewrites(model: onnx.ModelProto) -> tuple[str, ...]:
    """The rewrites :func:`rewrite_for_ezkl` recorded in ``model`` (empty for none)."""
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            try:
                notes = json.loads(prop.value)
            except ValueError:
                return ()
            return tuple(str(note) for note in notes) if isinstance(notes, list) else ()
    return ()


def _record(model: onnx.ModelProto, notes: list[str]) -> None:
    """Append ``notes`` to the model's recorded rewrites."""
    previous = list(recorded_rewrites(model))
    kept = [prop for prop in model.metadata_props if prop.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(previous + notes)


__all__ = [
    "METADATA_KEY",
    "NO_REWRITES_ENV",
    "REWRITES_VERSION",
    "recorded_rewrites",
    "rewrite_for_ezkl",
    "rewrites_enabled",
    "rewrites_key",
]
