"""Export: a PyTorch module (or an existing ONNX file) to a checked ONNX model.

The export stage is where a model enters zkml, so it is strict: the ONNX must
pass ``onnx.checker`` and have static shapes (a symbolic batch dimension is
fixed to the declared batch size, and the shapes it implies are inferred, see
:mod:`zkml.shapes`); ops ezkl compiles wrongly but that have an exact
equivalent it gets right are replaced by it (:mod:`zkml.rewrite`). The float model's outputs (onnxruntime's, or onnx's
reference evaluator's where onnxruntime refuses the graph, see
:mod:`zkml.reference`) are kept as the reference the quantized circuit is later
measured against.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml.artifacts import OnnxModel, TensorSpec, sha256_file
from zkml.data import Samples
from zkml.errors import ConfigError, ExportError, InputDataError, ModelNotFoundError
from zkml.rewrite import recorded_rewrites, rewrite_for_ezkl, rewrites_key
from zkml.shapes import graph_inputs, resolve_shapes
from zkml.workspace import atomic_path, fingerprint, write_bytes_atomic, write_json_atomic

if TYPE_CHECKING:
    import onnx
    import torch

    from zkml.config import CircuitConfig

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17


def load_callable(spec: str, root: Path | None = None) -> Callable[..., Any]:
    """Load ``path/to/file.py:function`` and return the function.

    The file's folder is put on ``sys.path`` while it imports, so a model file
    can import its neighbours (a ``data.py`` next to it, say).

    Raises:
        ModelNotFoundError: the file or the function does not exist.
        ExportError: importing the file raised.
    """
    if ":" not in spec:
        raise ExportError(f"{spec!r} is not 'file.py:function'", hint="for example circuits/mlp_regressor/model.py:build")
    file_part, _, func_name = spec.rpartition(":")
    path = Path(file_part)
    if root is not None and not path.is_absolute():
        path = root / path
    path = path.resolve()
    if not path.is_file():
        raise ModelNotFoundError(f"model source {path} does not exist")
    module_name = f"zkml_user_{abs(hash(str(path)))}"
    if module_name in sys.modules:
        module = sys.modules[module_name]
    else:
        import_spec = importlib.util.spec_from_file_location(module_name, path)
        if import_spec is None or import_spec.loader is None:
            raise ExportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(import_spec)
        sys.path.insert(0, str(path.parent))
        try:
            sys.modules[module_name] = module
            import_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise ExportError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            sys.path.remove(str(path.parent))
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelNotFoundError(f"{path} has no function {func_name!r}")
    return func  # type: ignore[no-any-return]


def _tensor_specs(graph_values: Iterable[onnx.ValueInfoProto], batch_size: int) -> tuple[TensorSpec, ...]:
    from onnx import TensorProto

    specs = []
    for value in graph_values:
        tensor_type = value.type.tensor_type
        shape = []
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                shape.append(int(dim.dim_value))
            elif axis == 0:
                shape.append(batch_size)
            else:
                raise ExportError(
                    f"tensor {value.name!r} has a symbolic dimension {dim.dim_param!r} at axis {axis}",
                    hint="take the model through export_model, which resolves it from the input shapes",
                )
        specs.append(TensorSpec(value.name, tuple(shape), TensorProto.DataType.Name(tensor_type.elem_type).lower()))
    return tuple(specs)


# Files a factory may load its trained parameters from (zkml.weights writes .safetensors).
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npz", ".npy", ".pkl", ".joblib", ".onnx")


def source_digest(factory: str, root: Path) -> str:
    """Hash the model source: every .py file in the factory's folder (it may import neighbours) and the weights beside them."""
    file_part = Path(factory.rpartition(":")[0])
    folder = (root / file_part).resolve().parent
    files = sorted(p for p in folder.iterdir() if p.is_file() and (p.suffix == ".py" or p.suffix in WEIGHT_SUFFIXES))
    return fingerprint({str(p.name): sha256_file(p) for p in files} | {"factory": factory})


def export_fingerprint(config: CircuitConfig, torch_version: str | None) -> dict[str, Any]:
    """What the exported ONNX depends on: the given file or the model's source, and the rewrite rules."""
    if config.onnx is not None:
        parts: dict[str, Any] = {"onnx": sha256_file(config.onnx)}
    else:
        assert config.factory is not None
        parts = {
            "source": source_digest(config.factory, config.root),
            "example": config.example_input,
            "shape": config.input_shape,
            "torch": torch_version,
        }
    return {**parts, "rewrites": rewrites_key()}


def random_example(shape: tuple[int, ...] | None) -> torch.Tensor:
    """A seeded tracing input for a torch factory that has no example_input function."""
    if shape is None:
        raise ConfigError(
            "a torch model needs an example input to trace", hint="set [model] example_input or input_shape (CLI: --input-shape 1,8)"
        )
    import torch

    generator = torch.Generator().manual_seed(0)
    return torch.randn(*shape, generator=generator)


def _load_checked(path: Path) -> onnx.ModelProto:
    """Load an ONNX file and run ``onnx.checker`` on it.

    Raises:
        ModelNotFoundError: the file does not exist.
        ExportError: not a valid ONNX model.
    """
    import onnx

    if not path.is_file():
        raise ModelNotFoundError(f"ONNX file {path} does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        raise ExportError(
            f"{path} is not a valid ONNX model: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", hint="re-export the model"
        ) from exc
    return model


def inspect_onnx(path: Path, *, batch_size: int = 1) -> OnnxModel:
    """Check an ONNX file and describe it (no rewriting).

    Raises:
        ModelNotFoundError: the file does not exist.
        ExportError: not a valid ONNX model, or symbolic beyond the batch axis.
    """
    path = Path(path)
    model = _load_checked(path)
    opset = next((imp.version for imp in model.opset_import if imp.domain in ("", "ai.onnx")), 0)
    return OnnxModel(
        path=path,
        sha256=sha256_file(path),
        opset=int(opset),
        inputs=_tensor_specs(graph_inputs(model), batch_size),
        outputs=_tensor_specs(model.graph.output, batch_size),
        rewrites=recorded_rewrites(model),
    )


def _export_torch(module: torch.nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], out: Path, opset: int) -> None:
    import torch

    if not isinstance(example, tuple):
        example = (example,)
    module.eval()
    names_in = ["input"] if len(example) == 1 else [f"input_{i}" for i in range(len(example))]
    with torch.no_grad():
        try:
            produced = module(*example)
        except Exception as exc:
            raise ExportError(f"the module fails on its example input: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    count = len(produced) if isinstance(produced, (tuple, list)) else 1
    names_out = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns that it is deprecated; it is still the one
        # whose graphs ezkl 23 compiles reliably (dynamo emits ops it lacks).
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, example, str(out), input_names=names_in, output_names=names_out, opset_version=opset, dynamo=False)
        except Exception as exc:
            raise ExportError(f"torch.onnx.export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc


def export_model(
    model: torch.nn.Module | onnx.ModelProto | str | Path,
    out_path: Path,
    *,
    example_input: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
    batch_size: int = 1,
    opset: int = DEFAULT_OPSET,
) -> OnnxModel:
    """Export a model to a checked, static-shape ONNX file.

    Args:
        model: a ``torch.nn.Module`` (needs ``example_input``), an
            ``onnx.ModelProto``, or a path to an ``.onnx`` file (copied).
        out_path: where to write the ONNX model.
        example_input: tensor (or tuple of tensors) to trace a torch module with.
        batch_size: value for a symbolic batch axis.
        opset: ONNX opset for torch exports.

    Returns:
        The checked model; ``reference_path`` is unset (see :func:`reference_outputs`).

    Raises:
        ExportError: the model cannot be exported or is not valid ONNX.
    """
    import onnx

    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        if isinstance(model, (str, Path)):
            proto = _load_checked(Path(model))
        elif isinstance(model, onnx.ModelProto):
            proto = model
        else:
            try:
                import torch
            except ImportError as exc:  # pragma: no cover - torch is a dependency
                raise ExportError("torch is not installed; give an .onnx file instead") from exc
            if not isinstance(model, torch.nn.Module):
                raise ExportError(
                    f"cannot export a {type(model).__name__}", hint="give a torch.nn.Module, an onnx.ModelProto or an .onnx path"
                )
            if example_input is None:
                raise ExportError(
                    "a torch module needs an example input to trace", hint="pass example_input (CLI: --input-shape or --example)"
                )
            _export_torch(model, example_input, tmp, opset)
            proto = onnx.load(str(tmp))
        resolve_shapes(proto, batch_size)
        rewrite_for_ezkl(proto)
        try:
            onnx.checker.check_model(proto)
        except Exception as exc:
            raise ExportError(f"exported model fails onnx.checker: {str(exc).splitlines()[0]}") from exc
        write_bytes_atomic(tmp, proto.SerializeToString())
    result = inspect_onnx(out_path, batch_size=batch_size)
    log.info(
        "exported %s: opset %d, inputs %s, outputs %s",
        out_path,
        result.opset,
        [s.shape for s in result.inputs],
        [s.shape for s in result.outputs],
    )
    return result


@dataclass(frozen=True)
class FloatOutputs:
    """The float model's outputs on some samples, and which evaluator computed them.

    Attributes:
        arrays: one float64 array per model output, samples on axis 0.
        evaluator: ``onnxruntime`` or ``onnx.reference`` (see :mod:`zkml.reference`).
        fallback_reason: why onnxruntime was not used (None when it was).
    """

    arrays: list[Any]
    evaluator: str
    fallback_reason: str | None = None


def evaluate_float(model: OnnxModel, samples: Samples) -> FloatOutputs:
    """Run the float model on ``samples``: onnxruntime, or onnx's reference evaluator where onnxruntime refuses the graph.

    Raises:
        InputDataError: the samples do not fit the model's inputs.
        ExportError: no evaluator can load or run the model.
    """
    from zkml.reference import ONNX_REFERENCE, ONNXRUNTIME, open_evaluator, run_batches

    batch = model.inputs[0].shape[0] if model.inputs and model.inputs[0].shape else 1
    if samples.count % batch:
        raise InputDataError(f"{samples.count} samples is not a multiple of the model's batch size {batch}")
    inputs = [(spec.name, spec.shape, spec.dtype) for spec in model.inputs]
    names = [spec.name for spec in model.outputs]
    evaluator = open_evaluator(model.path)
    try:
        return FloatOutputs(run_batches(evaluator, inputs, samples.arrays, names), evaluator.name, evaluator.fallback_reason)
    except ExportError as exc:
        if evaluator.name != ONNXRUNTIME:
            raise
        # Some kernels are missing only at run time; the spec's own evaluator may still run the graph.
        log.warning("%s; retrying with onnx's reference evaluator", exc)
        fallback = open_evaluator(model.path, prefer=ONNX_REFERENCE)
        return FloatOutputs(run_batches(fallback, inputs, samples.arrays, names), fallback.name, str(exc))


def run_onnx(model: OnnxModel, samples: Samples) -> list[Any]:
    """Run the float model, one model batch at a time (see :func:`evaluate_float`).

    Returns:
        One float64 array per model output, with samples on axis 0.
    """
    return evaluate_float(model, samples).arrays


def reference_evaluator(model: OnnxModel) -> str | None:
    """Which evaluator computed ``model``'s recorded float reference (None before :func:`reference_outputs`)."""
    import json

    if model.reference_path is None or not Path(model.reference_path).is_file():
        return None
    evaluator: str | None = json.loads(Path(model.reference_path).read_text()).get("evaluator")
    return evaluator


def reference_outputs(model: OnnxModel, samples: Samples, out_path: Path) -> OnnxModel:
    """Run the float model on ``samples`` and keep its outputs next to it.

    Returns:
        ``model`` with ``reference_path`` set.
    """
    from dataclasses import replace

    result = evaluate_float(model, samples)
    write_json_atomic(
        out_path,
        {
            "outputs": [array.tolist() for array in result.arrays],
            "names": [spec.name for spec in model.outputs],
            "evaluator": result.evaluator,
            "fallback_reason": result.fallback_reason,
        },
    )
    return replace(model, reference_path=Path(out_path))
