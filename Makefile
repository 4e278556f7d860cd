# scoring-explainers: `make serve` runs the main job on the bundled demo model,
# `make test` installs everything and runs the test suite (`make test-quick`: a quick part).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-all

.PHONY: serve test test-quick system-deps package-test lint bench demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

## Distill the demo model (breast-cancer SVC) if needed and serve it on 127.0.0.1:8000.
serve: $(STAMP)
	$(BIN)/python -m scoring_explainers.demo --out artifacts/demo --if-missing --rows 0
	$(BIN)/python -m service --artifact artifacts/demo --host 127.0.0.1 --port 8000

## Distill the demo artifact again and print a few explanations (no server).
demo: $(STAMP)
	$(BIN)/python -m scoring_explainers.demo --out artifacts/demo

## System packages the tests use (Java, PostgreSQL, Chromium); nothing to do when present.
system-deps:
	bash scripts/system-deps.sh

## Lint and run the tests: every one of them, whatever its markers.
test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check scoring_explainers service loadtest
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

## The tests that need no Spark, browser, PostgreSQL or container and are not slow (no lint).
QUICK := not slow and not spark and not browser and not postgres and not container
test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "$(QUICK)"

## Build the container image with buildah, run it with podman and check it; lint, render and
## validate the Helm chart (root: installs buildah/podman/debootstrap with apt-get if missing).
package-test: $(STAMP)
	$(BIN)/python -m pytest -q tests/packaging

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## Side-by-side benchmarks against the peers (minutes; run on a quiet machine).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[all,dev,bench]'
	command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	$(BIN)/python bench/kernel.py
	$(BIN)/python bench/kernel_designs.py --large
	$(BIN)/python bench/kernel_uncertainty.py
	$(BIN)/python bench/tree.py
	$(BIN)/python bench/explainers.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/spark.py --json bench/results/spark.json
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache .mypy_cache
