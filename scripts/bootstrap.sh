#!/usr/bin/env bash
# Set up everything zkml needs, idempotently: .venv/ (CPU torch, zkml in editable
# mode, test tools) and the npm tools (solcjs, anvil) from package-lock.json.
# Quick when already done: a stamp records the hash of the files that decide the set-up.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
stamp=.venv/.zkml-setup
want=$(cat pyproject.toml package.json package-lock.json scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/zkml ] && [ -x node_modules/.bin/anvil ]; then
  exit 0
fi

echo "zkml: setting up .venv and npm tools (first run takes a few minutes)" >&2
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# torch first and pinned: that exact release is the CPU wheel; anything looser pulls CUDA builds.
pip install "torch==2.13.0"
pip install -e ".[dev]"
# hummingbird-ml (the tree-ensemble example's converter) pins onnx<=1.16.1, which would
# downgrade onnx; its code works with the onnx we use, so install it without its pins.
pip install --no-deps "hummingbird-ml==0.4.12" "onnxconverter-common==1.16.0" dill psutil scikit-learn
pip install scikit-learn

if ! command -v npm >/dev/null 2>&1; then
  echo "zkml: npm is needed for solcjs and anvil (install node 20 and npm)" >&2
  exit 1
fi
# Exactly the lock: it holds every platform's optional anvil package, so npm ci accepts it
# and the set-up never rewrites it (a rewritten lock would also change the stamp's hash).
npm ci --no-audit --no-fund --loglevel=error >&2

# The service's browser test drives Debian's chromium: install it where apt works (root, network);
# elsewhere go on, and that test skips with its reason.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } >/dev/null 2>&1 \
    || echo "zkml: could not install chromium; the live-page browser test will skip" >&2
fi

echo "$want" > "$stamp"
