# Sweeper — run `make help` for the list of targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Test files run side by side in this many pytest-xdist workers, each with a redis-server of its own
# (tests/support/worker_redis.py); most e2e and chaos time is spent waiting for blocks. 0: one process.
TEST_WORKERS ?= 3
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

.DEFAULT_GOAL := help
.PHONY: help install lock interop demo test test-unit test-integration test-e2e test-chaos lint format bench bench-scan bench-rescan bench-e2e bench-cost bench-memory bench-levers bench-hosts devnet worker beat flower signer web services compose-check clean

help: ## Show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

UV := $(BIN)/uv
TOOLS_STAMP := $(VENV)/.tools
# The lock files, resolved once for every platform and Python >= 3.11 (this machine's and the image's).
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet $(if $(UPGRADE),--upgrade)
export UV_CUSTOM_COMPILE_COMMAND := make lock

# The pinned tools (pip among them) go in with .venv's own pip or, on the first run, with the pip of $(PY):
# that spares installing a pip into .venv only to replace it.
$(TOOLS_STAMP): requirements/tools.txt
	@test -x $(BIN)/python || { $(PY) -m pip --version >/dev/null 2>&1 && $(PY) -m venv --without-pip $(VENV); } \
	  || $(PY) -m venv $(VENV)
	@if test -x $(BIN)/pip; then pip="$(BIN)/python -m pip"; else pip="$(PY) -m pip --python $(BIN)/python"; fi; \
	  set -x; $$pip install -q --no-compile --no-deps --require-hashes -r requirements/tools.txt
	@touch $@

# Installs exactly what the lock files pin (nothing is resolved), then the project itself on top.
$(STAMP): $(TOOLS_STAMP) pyproject.toml requirements/dev.txt
	$(UV) pip sync -q --python $(BIN)/python --require-hashes requirements/tools.txt requirements/dev.txt
	$(UV) pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e .
	@$(UV) pip check -q --python $(BIN)/python || { echo "requirements/*.txt do not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	@touch $@

install: $(STAMP) ## Create .venv and install the locked dependencies, then the package (editable)

lock: $(TOOLS_STAMP) ## Re-resolve requirements/*.txt from pyproject.toml (UPGRADE=1: newest allowed versions)
	$(UV) pip compile $(LOCK_FLAGS) pyproject.toml -o requirements/runtime.txt
	$(UV) pip compile $(LOCK_FLAGS) pyproject.toml --extra dev -c requirements/runtime.txt -o requirements/dev.txt
	$(UV) pip compile $(LOCK_FLAGS) requirements/tools.in -c requirements/dev.txt -o requirements/tools.txt

demo: install ## Devnet + embedded broker + SQLite + workers + receiver: sweep many deposits, print a summary
	$(BIN)/sweeper demo

services: ## Start Redis and PostgreSQL if they are not running (tests need them)
	bash .ci/services

interop: ## Install TronWeb (npm, pinned by tests/interop/package-lock.json) for the interop test
	@if command -v npm >/dev/null 2>&1; then \
		test -f tests/interop/node_modules/tronweb/package.json || \
		(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error); \
	else echo "npm not found: the TronWeb interop test will be skipped"; fi

test: install services interop ## Run the whole test suite (unit, integration, e2e)
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

test-unit: install ## Unit tests only (no services)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

test-integration: install services interop ## Integration tests (Redis, PostgreSQL, devnet over HTTP)
	$(BIN)/pytest $(XDIST) -m integration $(PYTEST_ARGS)

test-e2e: install services ## End-to-end tests (Celery workers, beat, receiver, devnet)
	$(BIN)/pytest $(XDIST) -m e2e $(PYTEST_ARGS)

test-chaos: install services ## Crash, fault and bad-input suites
	$(BIN)/pytest $(XDIST) -m chaos $(PYTEST_ARGS)

lint: install ## ruff, mypy --strict on sweeper/, tasks/ and config/, hadolint on the Dockerfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

format: install ## Apply ruff formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install services ## Run every benchmark and write bench/RESULTS.md
	$(BIN)/python -m bench

bench-scan: install services ## Benchmark 1 alone: block-scan catch-up, 1M watched addresses
	$(BIN)/python -m bench scan

bench-rescan: install services ## Benchmark 2 alone: balance rescan against the naive tronpy loop
	$(BIN)/python -m bench rescan

bench-e2e: install services ## Benchmark 3 alone: end to end with 1, 2 and 4 worker processes
	$(BIN)/python -m bench e2e

bench-cost: install services ## Benchmark 4 alone: TRX per sweep against burn, flat top-up, floor
	$(BIN)/python -m bench cost

bench-memory: install services ## Benchmark 5 alone: worker RSS at rest and after 1,000 sweeps
	$(BIN)/python -m bench memory

bench-levers: install services ## Benchmark 6 alone: CPU per sweep lever by lever, against the code before them
	$(BIN)/python -m bench levers

bench-hosts: install services ## Benchmark 7 (root, not in CI): 1-3 worker hosts in network namespaces, then a partition
	$(BIN)/python -m bench hosts

devnet: install ## Run the local TRON node and provider simulators on :9090-9093
	$(BIN)/sweeper devnet

worker: install ## Run a Celery worker (queues scan, sweep, callbacks)
	$(BIN)/celery -A tasks.app worker -Q scan,sweep -l INFO

beat: install ## Run Celery beat (one per deployment)
	$(BIN)/celery -A tasks.app beat -l INFO

flower: install ## Run Flower on 127.0.0.1, operator tasks only (FLOWER_BASIC_AUTH=user:password required)
	$(BIN)/sweeper flower

signer: install ## Run the signer service on 127.0.0.1 (the only process given keys; docs/SECURITY.md)
	$(BIN)/sweeper signer

web: install ## Run the callback receiver (/callbacks/{provider}, /healthz, /metrics, /console)
	$(BIN)/sweeper web

compose-check: ## Validate docker-compose.yml (needs the docker compose client only)
	if docker compose version >/dev/null 2>&1; then FLOWER_BASIC_AUTH=$${FLOWER_BASIC_AUTH:-check:config-only} SWEEPER_ENV_FILE=.env.example docker compose config -q; else FLOWER_BASIC_AUTH=$${FLOWER_BASIC_AUTH:-check:config-only} SWEEPER_ENV_FILE=.env.example docker-compose config -q; fi

clean: ## Remove caches and the virtualenv
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info tests/interop/node_modules
