# cxstack: `make demo` runs it with a demo tenant, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench check-services migration-initial clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("cxstack needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cxstack demo

test: $(STAMP)
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
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
