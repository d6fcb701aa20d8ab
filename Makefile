# The two quick-start commands are `make demo` and `make test`; both set themselves up.
.PHONY: setup demo test test-slow bench lint clean

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

lint: setup
	.venv/bin/ruff check zkml cli tests benchmarks
	.venv/bin/mypy zkml cli

clean:
	rm -rf build
