"""Preflight: list every op in the graph and name the nodes ezkl cannot compile.

ezkl reports an unsupported op deep inside settings generation or compilation,
often as a panic. Checking the graph first turns that into one clear message
that names the node, before any slow work. The op lists below were measured on
ezkl 23.0.5 by compiling and mock-proving a minimal model per op (see
``tests/test_preflight.py`` for the ones the suite re-checks on real ezkl).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from zkml.artifacts import OnnxModel, OpReport
from zkml.errors import ExportError, UnsupportedOpsError

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

# Ops that compiled and mock-proved on ezkl 23.0.5 (default ONNX domain).
SUPPORTED_OPS: frozenset[str] = frozenset(
    {
        "Abs",
        "Acos",
        "Acosh",
        "Add",
        "ArgMax",
        "ArgMin",
        "Asin",
        "Asinh",
        "Atan",
        "Atanh",
        "BatchNormalization",
        "Ceil",
        "Concat",
        "Constant",
        "ConstantOfShape",
        "ConvTranspose",
        "Cos",
        "Cosh",
        "CumSum",
        "DepthToSpace",
        "Div",
        "Einsum",
        "Elu",
        "Erf",
        "Exp",
        "Flatten",
        "Floor",
        "GRU",
        "Gemm",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "Greater",
        "GreaterOrEqual",
        "HardSigmoid",
        "HardSwish",
        "Identity",
        "InstanceNormalization",
        "LSTM",
        "LayerNormalization",
        "LeakyRelu",
        "Less",
        "LessOrEqual",
        "Log",
        "LogSoftmax",
        "MatMul",
        "Mean",
        "Min",
        "Mul",
        "Neg",
        "PRelu",
        "RNN",
        "Range",
        "Reciprocal",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSumExp",
        "ReduceMax",
        "ReduceMean",
        "ReduceMin",
        "ReduceSum",
        "ReduceSumSquare",
        "Relu",
        "Round",
        "Selu",
        "Shape",
        "Sigmoid",
        "Sign",
        "Sin",
        "Sinh",
        "Size",
        "Softmax",
        "Softplus",
        "Softsign",
        "SpaceToDepth",
        "Split",
        "Sqrt",
        "Squeeze",
        "Sub",
        "Sum",
        "Tan",
        "Tanh",
        "Transpose",
        "Unsqueeze",
    }
)

# Ops that compile only in some forms; the value says which.
CONDITIONAL_OPS: dict[str, str] = {
    "Conv": "needs an explicit 'strides' attribute",
    "MaxPool": "needs an explicit 'strides' attribute",
    "AveragePool": "needs an explicit 'strides' attribute",
    "Max": "a constant operand must be a scalar",
    "Pow": "the exponent must be a constant",
    "Cast": "float->int rounds down (ONNX truncates toward zero): exact only for non-negative or whole inputs; Cast to bool is wrong",
    "And": "boolean inputs must come from comparisons",
    "Or": "boolean inputs must come from comparisons",
    "Xor": "boolean inputs must come from comparisons",
    "Not": "boolean input must come from a comparison",
    "Where": "the condition must come from a comparison",
    "Gather": "indices must be constant (or from ArgMax)",
    "GatherElements": "indices must be constant",
    "GatherND": "indices must be constant",
    "ScatterElements": "updates must not be constant",
    "ScatterND": "updates must not be constant",
    "Reshape": "the shape must be constant (or from Shape)",
    "Expand": "the shape must be constant",
    "Tile": "repeats must be constant",
    "Slice": "starts/ends/axes/steps must be constant",
    "Pad": "only mode='constant' with value 0",
    "Resize": "only mode='nearest' with constant scales",
    "TopK": "only the values output may be used",
    "OneHot": "indices must be constant or from ArgMax",
    "ReduceProd": "overflows fixed point beyond ~2 elements at default scales",
    "Dropout": "only the one-input form",
    "Clip": "min/max must be constant",
    # skl2onnx classifiers map the ArgMax class index to its label with it; tract compiles it as a Gather.
    "ai.onnx.ml.ArrayFeatureExtractor": "the data must be constant (class labels) and the indices constant or from ArgMax",
}

# Ops measured to fail, with the reason shown to the user.
UNSUPPORTED_OPS: dict[str, str] = {
    "LpNormalization": "not implemented by ezkl's ONNX front end (tract)",
    "Mod": "not implemented (ezkl: 'Unknown op: Rem')",
    "IsNaN": "not implemented",
    "IsInf": "not implemented",
    "NonZero": "its output shape depends on the data; circuits need static shapes",
    "Loop": "control flow is not implemented",
    "Upsample": "not implemented (opset 9); export Resize with mode='nearest' instead",
    # zkml's export rewrites Equal exactly (zkml.rewrite) from opset 9 on; these reasons are for graphs it could not rewrite.
    "Equal": "compiles but gives wrong results on ezkl 23 (true comes out as 2**-scale); export rewrites it from opset 9 on",
    "Trilu": "compiles but gives wrong results on ezkl 23 (no masking is applied)",
    "If": "compiles but gives wrong results on ezkl 23 (always takes the then-branch)",
    "Scan": "control flow is not implemented",
    "NonMaxSuppression": "data-dependent output shape",
    "Unique": "data-dependent output shape",
}

_DEFAULT_DOMAINS = ("", "ai.onnx")


def preflight(model: OnnxModel, *, strict: bool = True) -> OpReport:
    """Check every node of ``model`` against what ezkl can compile.

    Args:
        model: the exported model.
        strict: raise when a node cannot be compiled (else just report).

    Raises:
        UnsupportedOpsError: listing each offending node as ``name (OpType)``.
    """
    import onnx

    try:
        proto = onnx.load(str(model.path))
    except Exception as exc:
        raise ExportError(f"cannot read {model.path}: {exc}") from exc
    counts: Counter[str] = Counter()
    constants = {init.name for init in proto.graph.initializer}
    constants |= {out for node in proto.graph.node if node.op_type == "Constant" for out in node.output}
    violations: dict[str, str] = {}
    consumed = {name for node in proto.graph.node for name in node.input} | {out.name for out in proto.graph.output}
    argmax_outputs = {out for node in proto.graph.node if node.op_type == "ArgMax" for out in node.output}
    unsupported: list[tuple[str, str]] = []
    conditional: list[tuple[str, str, str]] = []
    for index, node in enumerate(proto.graph.node):
        op = node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
        counts[op] += 1
        name = node.name or f"node{index}"
        if op in UNSUPPORTED_OPS or op not in SUPPORTED_OPS and op not in CONDITIONAL_OPS:
            unsupported.append((name, op))
        elif op in CONDITIONAL_OPS:
            violation = _violation(node, constants, consumed) or _ml_violation(node, constants, argmax_outputs)
            if violation:
                unsupported.append((name, op))
                violations[op] = violation
            else:
                conditional.append((name, op, CONDITIONAL_OPS[op]))
    report = OpReport(dict(sorted(counts.items())), tuple(unsupported), tuple(conditional))
    log.info("preflight %s: %d ops, %d unsupported nodes", model.path.name, sum(counts.values()), len(unsupported))
    if strict and unsupported:
        raise UnsupportedOpsError(_describe(unsupported, violations), nodes=list(unsupported), hint=_hint(unsupported))
    return report


def reason_for(op: str) -> str:
    """Why an op is not supported, as far as it is known."""
    if "." in op:
        return f"operators of domain {op.rsplit('.', 1)[0]!r} are not supported by ezkl"
    return UNSUPPORTED_OPS.get(op, "not supported by ezkl 23")


def _attribute(node: onnx.NodeProto, name: str) -> object:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return None


def _violation(node: onnx.NodeProto, constants: set[str], consumed: set[str]) -> str | None:
    """The reason a conditionally supported node is outside what compiles, if visible in the graph."""
    op = node.op_type
    if op in ("Conv", "MaxPool", "AveragePool") and _attribute(node, "strides") is None:
        return "needs an explicit 'strides' attribute (re-export; torch always writes it)"
    if op == "Pad":
        mode = _attribute(node, "mode")
        if mode not in (None, b"constant", "constant"):
            return f"mode {mode!r} is not supported; only constant padding with 0"
    if op == "Resize":
        mode = _attribute(node, "mode")
        if mode not in (None, b"nearest", "nearest"):
            return f"mode {mode!r} is not supported; only nearest"
    if op == "Cast" and _attribute(node, "to") == 9:  # TensorProto.BOOL
        return "Cast to bool gives wrong results; use a comparison (Greater, Less) instead"
    if op == "Pow" and len(node.input) > 1 and node.input[1] not in constants:
        return "the exponent must be a constant"
    if op == "Slice" and any(name and name not in constants for name in node.input[1:]):
        return "starts/ends/axes/steps must be constants"
    if op == "TopK" and len(node.output) > 1 and node.output[1] in consumed:
        return "the indices output cannot be used"
    return None


def _ml_violation(node: onnx.NodeProto, constants: set[str], argmax_outputs: set[str]) -> str | None:
    """Why an ``ai.onnx.ml`` node that compiles in some forms is outside them, if it is."""
    if node.op_type == "ArrayFeatureExtractor" and node.domain == "ai.onnx.ml":
        if node.input[0] not in constants:
            return "the data must be a constant (as skl2onnx's class labels are)"
        if node.input[1] not in constants | argmax_outputs:
            return "the indices must be constant or come from ArgMax"
    return None


def _describe(unsupported: list[tuple[str, str]], violations: dict[str, str] | None = None) -> str:
    shown = ", ".join(f"{name} ({op})" for name, op in unsupported[:5])
    more = f" and {len(unsupported) - 5} more" if len(unsupported) > 5 else ""
    ops = sorted({op for _, op in unsupported})
    reasons = {op: (violations or {}).get(op) or reason_for(op) for op in ops}
    return f"the circuit compiler cannot handle {len(unsupported)} node(s): {shown}{more} — {'; '.join(f'{op}: {why}' for op, why in reasons.items())}"


def _hint(unsupported: list[tuple[str, str]]) -> str:
    ops = {op for _, op in unsupported}
    if any(op.startswith("ai.onnx.ml.") for op in ops):
        return "convert tree/linear sklearn models to tensor ops (e.g. hummingbird-ml) instead of ai.onnx.ml operators"
    if ops & {"GRU", "LSTM", "RNN", "Loop", "Scan", "If"}:
        return "unroll recurrent layers and control flow into plain tensor ops before export"
    return "replace these layers with supported ones (see zkml preflight --list-ops)"
