# The two quick-start commands are `make demo` and `make test`; both set themselves up.
.PHONY: setup demo test test-slow bench bench-serve lint clean tuned estimate retrain

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/zkml run circuits/mlp_regressor

test: setup
	.venv/bin/python -m pytest -q

test-slow: setup
	.venv/bin/python -m pytest -q -m slow

bench: setup
	.venv/bin/python -m benchmarks.harness

# Train every example again: rewrites circuits/<name>/weights.safetensors (what model.py:build loads, so every
# machine exports the same bytes) and the data files. Their tuned.json are re-validated at the next run; `make tuned` re-tunes.
retrain: setup
	.venv/bin/python scripts/retrain.py

# Re-tune every example and commit its choice to circuits/<name>/tuned.json (what `zkml run` uses by default).
tuned: setup
	.venv/bin/zkml tune-all circuits --write --build-dir build/tune-all --json benchmarks/results/tune_all.json

# Measure every example's and proved corpus model's cost (waiting for a quiet machine), refit
# zkml/estimate_model.json, write benchmarks/results/estimate.md.
estimate: setup
	.venv/bin/python -m benchmarks.estimate measure --max-load 1.6 --wait 120
	.venv/bin/python -m benchmarks.estimate_fit
	.venv/bin/python -m benchmarks.estimate report

lint: setup
	.venv/bin/ruff check zkml cli tests benchmarks
	.venv/bin/mypy zkml cli

clean:
	rm -rf build

# The proving service's load test (200 requests, 8 clients) vs prove-many: benchmarks/results/serve_load.{md,json}.
bench-serve: setup
	.venv/bin/python -m benchmarks.serve_load
