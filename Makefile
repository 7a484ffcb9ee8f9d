# The two commands a newcomer needs:  make run  |  make test
# Everything else here is a helper they use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run test unit integration venv mariadb migrate bench clean

help:
	@echo "make run     serve the whole service on http://127.0.0.1:8080 (embedded SQLite + local AWS)"
	@echo "make test    every test: unit, then integration against MariaDB and moto server"
	@echo "make bench   the benchmark suite (see bench/README.md)"

# (Re)create the virtual environment when pyproject.toml changes.
$(STAMP): pyproject.toml
	@echo "==> preparing $(VENV) (first time: about a minute)"
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "==> python3 -m venv failed; installing python3-venv"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && \
		$(PYTHON) -m venv $(VENV); }
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[local,test]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	@$(VENV)/bin/billing local

mariadb:
	@scripts/ensure-mariadb.sh

test: $(STAMP) deploy-tools mariadb
	@echo "==> unit and integration tests"
	@$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP) deploy-tools mariadb
	@$(PY) -m pytest tests/integration $(PYTEST_ARGS)

# wrk (the load generator) comes from Debian's packages; bench/README.md explains the run.
bench: $(STAMP) mariadb
	@command -v wrk >/dev/null 2>&1 || { \
		echo "==> installing wrk"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@$(PY) bench/run.py $(BENCH_ARGS)

migrate: $(STAMP)
	@$(VENV)/bin/billing migrate

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) var .pytest_cache deploy/dist

include deploy/deploy.mk
