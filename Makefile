# scoring-explainers: `make serve` runs the main job on the bundled demo model,
# `make test` installs everything and runs the test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-all

.PHONY: serve test lint bench demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

## Distill the demo model (breast-cancer SVC) into artifacts/demo and explain a few rows.
serve: $(STAMP)
	$(BIN)/python -m scoring_explainers.demo --out artifacts/demo

## Lint and run the tests.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check scoring_explainers
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## Side-by-side benchmarks against the peers (minutes; run on a quiet machine).
bench: $(STAMP)
	$(BIN)/python bench/kernel.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache .mypy_cache
