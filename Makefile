# Two commands do everything on a fresh machine with Python 3.11 and make: `make run`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test venv lint typecheck contracts pytest bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

run: venv  ## the exchange on SQLite with a seeded demo, at http://127.0.0.1:8000
	$(BIN)/gridcell demo

test: venv lint typecheck contracts pytest  ## lint, types, layering contracts, every test

lint: venv
	$(BIN)/ruff check src tests benchmarks

typecheck: venv
	$(BIN)/mypy

contracts: venv
	$(BIN)/lint-imports

pytest: venv
	$(BIN)/pytest -q

bench: venv
	$(BIN)/gridcell bench exposure --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache gridcell.db* gridcell-demo.db*
