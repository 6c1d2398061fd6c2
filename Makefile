# Two entry points for a fresh machine with Python 3.10+ and make:
#   make demo   install into .venv and run the demo on the bundled sample data
#   make test   install the test tools into .venv and run lint, types and the suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files make re-runs skip installs until pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/meterkit demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src

test: lint
	$(BIN)/pytest

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks are outside the test run; results and commands: docs/performance.md.
bench: $(VENV)/.installed-test
	$(PIP) install -e '.[bench]'
	$(BIN)/python benchmarks/bench_usage.py
	$(BIN)/python benchmarks/bench_serialization.py
	$(BIN)/python benchmarks/bench_read_floor.py
	$(BIN)/python benchmarks/bench_memory.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .coverage
