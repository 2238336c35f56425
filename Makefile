# Two commands do everything on a fresh machine with Python 3.11 and make: `make run`, `make test`.
# What is not Python (Node.js/npm for assets and the CTK, Chromium for browser tests) comes from Debian
# when missing and we are root; the versions that matter are pinned in lockfiles.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test venv lint typecheck contracts pytest bench clean assets browser node

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

PORT ?= 8000

run: venv assets  ## the exchange on SQLite with a seeded demo at http://127.0.0.1:$(PORT) (make run PORT=8080), in ./gridcell.db: the store every gridcell command opens by default
	$(BIN)/gridcell demo --port $(PORT)

test: venv node assets browser lint typecheck contracts pytest  ## lint, types, layering contracts, every test

node:  ## Node.js + npm (dashboard assets, the TMF621 conformance kit's newman), from Debian when missing (as root)
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; fi

assets: venv node  ## the dashboard's browser assets: Leaflet from the pinned npm lockfile (src/gridcell/web/assets)
	$(BIN)/python -m gridcell.web.assets

browser:  ## Debian's chromium for the dashboard's Playwright tests, installed when missing (as root)
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

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
