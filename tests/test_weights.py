"""Committed trained parameters: saved and loaded bit for bit, refused with a clear error when they do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.errors import ExportError, ModelNotFoundError
from zkml.weights import load_weights, save_weights


def _mlp(hidden: int = 4):  # type: ignore[no-untyped-def]
    from torch import nn

    return nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def test_weights_round_trip_bit_for_bit(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    trained = _mlp()
    path = save_weights(trained, tmp_path / "w" / "weights.safetensors")
    loaded = load_weights(_mlp(), path)
    assert not loaded.training
    for name, value in trained.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]) and value.dtype == loaded.state_dict()[name].dtype, name
    # The file is the same bytes when written again (what a commit relies on).
    assert save_weights(loaded, tmp_path / "again.safetensors").read_bytes() == path.read_bytes()


def test_missing_weights_say_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="retrain"):
        load_weights(_mlp(), tmp_path / "nothing.safetensors")


def test_weights_of_another_architecture_are_refused_by_name_and_shape(tmp_path: Path) -> None:
    path = save_weights(_mlp(hidden=4), tmp_path / "weights.safetensors")
    with pytest.raises(ExportError, match=r"does not fit Sequential: wrong shape/dtype .*0\.weight \(4, 3\)"):
        load_weights(_mlp(hidden=5), path)
    from torch import nn

    with pytest.raises(ExportError, match=r"missing \['3\.bias', '3\.weight'\]"):
        load_weights(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1), nn.Linear(1, 1)), path)


def test_a_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(ExportError, match="not a readable safetensors file"):
        load_weights(_mlp(), path)
