"""Retrain the example circuits and rewrite what they commit: weights.safetensors and their data files.

The examples' factories (``model.py:build``) load committed weights, so every
machine exports the same ONNX bytes; this is the one place that trains. After
it, the committed ``tuned.json`` files still apply (same graph), re-validated
on the held-out data at the next run; ``make tuned`` re-tunes them for the new
weights.

Run: ``.venv/bin/python scripts/retrain.py [circuits/NAME ...]`` (default: every
``circuits/*/`` with a ``train`` function), or ``make retrain``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def retrain(folder: Path) -> Path | None:
    """Train one circuit's model, save its weights and regenerate its data files; None when it has no ``train``."""
    from zkml.errors import ModelNotFoundError
    from zkml.export import load_callable
    from zkml.weights import save_weights

    try:
        train = load_callable("model.py:train", folder)
    except ModelNotFoundError:
        return None
    weights = save_weights(train(), folder / "weights.safetensors")
    if (folder / "data.py").is_file():
        # Its own process: every data.py imports a module called `model`, and one process would keep the first.
        subprocess.run([sys.executable, str(folder / "data.py")], check=True, cwd=folder)
    return weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="circuit folders (default: every circuits/*/)")
    args = parser.parse_args(argv)
    folders = args.folders or sorted(p.parent for p in (ROOT / "circuits").glob("*/model.py"))
    for folder in folders:
        written = retrain(folder.resolve())
        print(f"{folder}: {'wrote ' + str(written.relative_to(ROOT)) if written else 'no train() in model.py; skipped'}")
    print("the committed tuned.json files are re-validated at the next run; `make tuned` re-tunes them for these weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
