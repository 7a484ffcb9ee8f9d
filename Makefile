# The two commands a newcomer needs:  make run  |  make test
# Everything else here is a helper they use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
BENCH_ARGS ?=
MUTATION_JOBS ?= 2
MUTATION_MIN ?= 95

.DEFAULT_GOAL := help
.PHONY: help run test lint unit integration venv mariadb migrate bench mutation clean

help:
	@echo "make run     serve the whole service on http://127.0.0.1:8080 (embedded SQLite + local AWS)"
	@echo "make test    static checks (make lint: ruff, mypy --strict), then every test: unit, then integration"
	@echo "make bench   the benchmark suite (see bench/README.md)"
	@echo "make mutation  mutation testing of src/billing/domain and ports with the unit tests (docs/operations.md)"

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

# Static checks, the first step of `make test` (and so of CI): zero findings or the run stops here.
LINT_PATHS := src tests bench deploy scripts
lint: $(STAMP)
	@echo "==> ruff (lint and import order) on $(LINT_PATHS)"
	@$(VENV)/bin/ruff check $(LINT_PATHS)
	@echo "==> mypy --strict on src"
	@$(VENV)/bin/mypy --strict src

test: lint $(STAMP) deploy-tools mariadb
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

# mutmut ([tool.mutmut] in pyproject.toml) mutates the core in a copy of the tree (mutants/) and runs
# the unit tests that cover each mutant. Always from scratch: mutmut's cache keeps verdicts across
# changed tests. Its progress goes to mutants/run.log; the last line printed is the score.
mutation: $(STAMP)
	@rm -rf mutants && mkdir mutants
	@echo "==> mutmut run --max-children $(MUTATION_JOBS) (log: mutants/run.log)"
	@start=$$(date +%s); \
	$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) > mutants/run.log 2>&1 || { \
		tr '\r' '\n' < mutants/run.log | tail -n 40; echo "==> mutmut run failed"; exit 1; }; \
	echo "==> mutmut run took $$(( $$(date +%s) - start )) s"
	@$(PY) scripts/mutation_score.py --min $(MUTATION_MIN)

migrate: $(STAMP)
	@$(VENV)/bin/billing migrate

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) var .pytest_cache deploy/dist mutants

include deploy/deploy.mk
