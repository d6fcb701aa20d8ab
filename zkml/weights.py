"""Trained parameters beside the model code: the same model, bit for bit, on every machine.

Training is seeded but not bit-reproducible across machines: torch's float
kernels depend on the CPU's vector unit and on the thread count, so the same
training code gives weights a few ulps apart on an AVX-512 Intel, an AMD, an
arm64 CPU or under ``OMP_NUM_THREADS=1``. Anything keyed on the exact model
(committed tuned settings, expected outputs, fingerprints) then holds on one
machine only. A model factory therefore builds its architecture and loads the
committed parameters (:func:`load_weights`); retraining is a separate, explicit
step that rewrites them (:func:`save_weights`, ``make retrain``).

The file format is safetensors: a flat table of named tensors with no pickled
code in it, the format Hugging Face commits beside model code.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.errors import ExportError, ModelNotFoundError

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)


def save_weights(module: nn.Module, path: Path) -> Path:
    """Write ``module``'s parameters and buffers (its ``state_dict``) to a safetensors file, atomically.

    Returns:
        The path written.
    """
    from safetensors.torch import save

    from zkml.workspace import write_bytes_atomic

    # Contiguous copies: safetensors refuses views that share storage (tied or sliced tensors).
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in module.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, save(tensors))
    log.info("saved %d tensors to %s", len(tensors), path)
    return path


def load_weights(module: nn.Module, path: Path) -> nn.Module:
    """Load the parameters saved by :func:`save_weights` into ``module`` (every tensor, exact shapes).

    Returns:
        ``module`` itself, in eval mode.

    Raises:
        ModelNotFoundError: ``path`` does not exist.
        ExportError: the file is unreadable, or its tensors do not fit the module
            (names, shapes or dtypes differ: the code changed since the weights were saved).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    retrain = "retrain the model (make retrain for the examples) to rewrite it"
    if not path.is_file():
        raise ModelNotFoundError(f"trained weights {path} do not exist", hint=retrain)
    try:
        tensors = load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as exc:
        raise ExportError(f"{path} is not a readable safetensors file: {exc}", hint=retrain) from exc
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    misfit = sorted(
        f"{name} {tuple(tensors[name].shape)}/{tensors[name].dtype} != {tuple(value.shape)}/{value.dtype}"
        for name, value in expected.items()
        if name in tensors and (tensors[name].shape != value.shape or tensors[name].dtype != value.dtype)
    )
    if missing or extra or misfit:
        details = "; ".join(
            part
            for part in (
                f"missing {missing}" if missing else "",
                f"unexpected {extra}" if extra else "",
                f"wrong shape/dtype {misfit}" if misfit else "",
            )
            if part
        )
        raise ExportError(f"{path} does not fit {type(module).__name__}: {details}", hint=retrain)
    module.load_state_dict(tensors, strict=True)
    return module.eval()


__all__ = ["load_weights", "save_weights"]
