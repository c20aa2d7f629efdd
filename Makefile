# The two commands of the README: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED_GEOJSON := $(abspath ../shared/data/jakarta/kelurahan.geojson)

.PHONY: install run test test-sqlite test-postgres lint services schema documents lock clean

AUDIT := tests/graphql_http

install: $(VENV)/.installed $(AUDIT)/node_modules/.installed

## graphql-http's GraphQL-over-HTTP audit, run by tests/test_graphql_http.py (npm, pinned by its lock).
$(AUDIT)/node_modules/.installed: $(AUDIT)/package.json $(AUDIT)/package-lock.json
	npm ci --prefix $(AUDIT) --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

## Serve the API on the embedded default (SQLite + memory://) with demo data: Python alone.
run: $(VENV)/.installed
	$(BIN)/warga seed --demo
	$(BIN)/warga serve

## The whole suite, twice: SQLite + memory://, then PostgreSQL + Redis.
test: install lint services test-sqlite test-postgres

lint: install
	$(BIN)/ruff check .

services:
	bash .ci/services

test-sqlite: install
	WARGA_TEST_BACKEND=sqlite REGIONS_GEOJSON=$${REGIONS_GEOJSON:-$(SHARED_GEOJSON)} \
		$(BIN)/python -m pytest -q -p no:cacheprovider

test-postgres: install
	WARGA_TEST_BACKEND=postgres REGIONS_GEOJSON=$${REGIONS_GEOJSON:-$(SHARED_GEOJSON)} \
		$(BIN)/python -m pytest -q -p no:cacheprovider

## Re-pin the lock file from the current virtualenv (after changing pyproject.toml).
schema:
	$(BIN)/warga schema > schema.graphql

## The trusted documents (schema/documents.json) from the dashboard's queries (dashboard/queries.js).
documents:
	node tools/trusted_documents.mjs --write

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) var build *.egg-info $(AUDIT)/node_modules
