# DynamoWave Chat. Two commands do all the set-up on a fresh machine:
#   make run    the local stack: site :8000, WebSocket gateway :8001/local, dynalite, PostgreSQL
#   make test   every test (unit, the page's modules under node, integration through the gateway
#               and dynalite, browser; the site's on PostgreSQL)
#   make test-fast  the tests that need no server (dynalite, a gateway, a browser, a stack of
#               processes; PostgreSQL is started, in a second) and run no deploy tool (pip, Zappa,
#               cfn-lint): under a minute
# and three deploy to AWS (DEPLOY.md):
#   make check                  offline: stages vs default quotas, template translated, cfn-lint,
#                               checkov, packages, plan
#   make package                the Lambda package and the site's Zappa zip, in build/deploy/
#   make deploy STAGE=dev       everything, for real (DRY_RUN=1 or make's --dry-run: offline)
#   make deploy STAGE=prod REGIONS=us-east-1,us-west-2   the stage in two Regions, the first
#                               the primary (DEPLOY.md, "Two Regions")

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
# pytest-xdist workers for `make test`: the suite mostly waits (servers, sockets, Chromium), so
# two keep a 2-CPU machine busy (TEST_WORKERS=0: one process, as before).
TEST_WORKERS ?= 2
BENCH_STAMP := $(VENV)/.installed-bench
NODE_STAMP := node_modules/.installed

.PHONY: screenshots deps run test test-fast iam-report lint format chromium postgresql clean check package deploy bench load cost drill

deps: $(PY_STAMP) $(NODE_STAMP)

# '+': also under `make deploy --dry-run` (make's -n), whose dry run needs the virtualenv.
$(PY_STAMP): pyproject.toml
	+$(PYTHON) -m venv $(VENV)
	+$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	+$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	+touch $@

$(BENCH_STAMP): $(PY_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@

# The page's third-party modules, served from static/vendor/ (git-ignored, no CDN): copied
# from node_modules, each `package/path/in/it.mjs`.
VENDORED := dompurify/dist/purify.es.mjs marked/lib/marked.esm.js

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	$(foreach file,$(VENDORED),cp node_modules/$(file) static/vendor/$(notdir $(file)) &&) true
	# Their source-map comments name files not vendored (collectstatic's manifest would fail).
	sed -i '/sourceMappingURL=/d' static/vendor/*
	touch $@

# Browser tests drive Debian's Chromium (Playwright cannot download its own browsers here), with
# Noto Color Emoji so emoji in screenshots are drawn, not boxes.
BROWSER_PACKAGES = chromium fonts-noto-color-emoji
chromium:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
	  echo "Installing Debian's $(BROWSER_PACKAGES) for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; }

# The site's database, for `make run` and the tests: Debian's server (devstack/postgres.py runs
# the newest installed version's programs, as the `postgres` user when we are root).
POSTGRES_PACKAGES = postgresql
postgresql:
	@dpkg -s $(POSTGRES_PACKAGES) >/dev/null 2>&1 || { \
	  echo "Installing Debian's $(POSTGRES_PACKAGES) for the site's database"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(POSTGRES_PACKAGES) >/dev/null; }

run: deps postgresql
	$(PY) manage.py runstack $(if $(VERBOSE),--verbose)

test: deps chromium postgresql
	$(VENV)/bin/ruff check .
	node --test tests/js/
	$(PY) -m pytest -n $(TEST_WORKERS)
	$(PY) -m emulator.iam_report

# Deselects the tests marked `server` or `tool` (tests/conftest.py marks them by the fixtures they
# use), so it needs no Chromium; the IAM report needs the whole run. `make check` runs cfn-lint.
# The site's tests still run on PostgreSQL (TEST_DATABASE=sqlite: on SQLite, with no server).
test-fast: deps postgresql
	node --test tests/js/
	$(PY) -m pytest -m "not server and not tool"

# The functions' grants that the last whole test run never exercised (emulator/iam_report.py).
iam-report: deps
	$(PY) -m emulator.iam_report

# The README's screenshots (docs/), taken from the live page by a browser test.
screenshots: deps chromium
	DOCS_SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_docs_screenshots.py -q -p no:randomly

# Not part of `make test` or CI; both write bench/RESULTS.md (bench/run.py says what they measure).
bench: deps $(BENCH_STAMP)
	$(PY) -m bench.run bench

load: deps
	$(PY) -m bench.run load

# A Region fails while three pages chat (issue 28): two local Regions, the replicator, a front
# playing Route 53 at its standard timings; prints the figures and writes them to
# bench/RESULTS.md. DRILL_FLAGS="--interval 1 --ttl 5" shortens it (python -m bench.drill -h).
drill: deps
	$(PY) -m bench.drill $(DRILL_FLAGS)

# What a deployment costs on AWS, metered on the local stack and priced: writes bench/COST.md.
cost: deps
	$(PY) -m bench.cost

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

STAGE ?= dev
DRY_RUN ?=
# `make deploy STAGE=dev --dry-run` works too: make's own dry run (-n) selects the deploy
# command's, and the '+' runs that recipe line anyway.
DRY_RUN_FLAG = $(if $(or $(DRY_RUN),$(findstring n,$(firstword -$(MAKEFLAGS)))),--dry-run)
# Another parameters file for the stage (default deploy/parameters/$(STAGE).json).
PARAMETERS ?=
PARAMETERS_FLAG = $(if $(PARAMETERS),--parameters $(PARAMETERS))
# Two Regions, the primary first (DEPLOY_BUCKET then names one bucket in each, the same order).
REGIONS ?=
REGIONS_FLAG = $(if $(REGIONS),--regions $(REGIONS))

# Fails (exit 1) when any stage's parameters exceed a default account's quotas (DEPLOY.md).
check: deps
	$(PY) -m deploy deploy --stage $(STAGE) --dry-run $(PARAMETERS_FLAG) $(REGIONS_FLAG)

package: deps
	$(PY) -m deploy package --stage $(STAGE)

deploy: deps
	+$(PY) -m deploy deploy --stage $(STAGE) $(DRY_RUN_FLAG) $(PARAMETERS_FLAG) $(REGIONS_FLAG)

clean:
	rm -rf $(VENV) .venv-checkov node_modules .pytest_cache .ruff_cache build test-artifacts
