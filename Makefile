# Two commands: `make run` (set up and run the pipeline) and `make test`.
# Variables come from the environment or .env; see .env.example. .env is read here too, so the
# tooling variables it sets (PYTHON, PYTEST_ARGS) apply to make itself; the environment wins.
SHELL := /bin/bash
-include .env
PYTHON ?= python3.11
ifeq ($(strip $(PYTHON)),)
PYTHON := python3.11
endif
VENV := .venv
PY := $(VENV)/bin/python
MAGE := $(VENV)/bin/mage
PROJECT := mage_project
PIPELINE := event_analytics
SPARK_PIPELINE := event_analytics_spark
# Load .env (if any) and start the embedded Postgres when no POSTGRES_HOST is configured
# (tools/run.py, behind make run, starts it itself: WITH_DOTENV only).
WITH_DOTENV := set -a; if [ -f .env ]; then . ./.env; fi; set +a;
WITH_ENV := $(WITH_DOTENV) \
	if [ -z "$${POSTGRES_HOST:-}" ]; then eval "$$($(PY) -m tools.local_pg start)"; fi;

.PHONY: run run-spark spark test test-fast lint editor answers bench venv dev tools lock pg-stop clean help

help:
	@echo "make run        set up .venv, run the pipeline ($(PIPELINE)) on what is new and print its answers"
	@echo "                (FULL_REFRESH=1: from every file; FROM=... TO=...: reload those days; VERBOSE=1: Mage's log)"
	@echo "make run-spark  the same questions on Spark ($(SPARK_PIPELINE); SPARK_MASTER, local[2] by default)"
	@echo "make spark      install Spark (requirements-spark.txt) into .venv; needs Java 17"
	@echo "make test       set up .venv and run every test (PYTEST_ARGS=... to pass pytest options)"
	@echo "make test-fast  the tests that need at most a database (no Mage run, server, browser, Spark or Docker)"
	@echo "make lint       ruff on the Python code, sqlfluff on the SQL blocks, detect-secrets on tracked files"
	@echo "make editor     start the Mage editor (http://127.0.0.1:6789, MAGE_PORT to change it; login required)"
	@echo "make answers    print what the last published run loaded and its answers"
	@echo "make bench      benchmark at EVENTS=2000000 events against psql \\copy and pandas to_sql (ENGINE=spark: and Spark)"
	@echo "make pg-stop    stop the embedded Postgres"
	@echo "make clean      stop the embedded Postgres and remove its data and Mage's (.pgdata, .mage_data)"
	@echo "make lock       regenerate the locks: requirements.txt, requirements-dev.txt, requirements-tools.txt"

venv: $(VENV)/.installed

# The tests' packages (requirements-dev.txt), on top of the pipeline's; `make run` never installs them.
dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# check-jsonschema cannot share .venv with mage-ai (ruamel.yaml pins), so it and the linters have their own.
tools: .venv-tools/.installed

.venv-tools/.installed: requirements-tools.txt
	rm -rf .venv-tools
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/pip install --quiet -r requirements-tools.txt
	touch $@

# Rebuilt whenever requirements.txt changes (or .venv is missing).
$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Spark's packages, for the Spark pipeline, its tests and its benchmark only; `make run` never
# installs them. Rebuilt with .venv.
spark: $(VENV)/.spark-installed

$(VENV)/.spark-installed: $(VENV)/.installed requirements-spark.txt
	@command -v java >/dev/null || [ -x "$${JAVA_HOME:-/nonexistent}/bin/java" ] || { \
		echo "Spark needs Java 17: apt-get install openjdk-17-jre-headless (or set JAVA_HOME)"; exit 1; }
	$(PY) -m pip install --quiet -r requirements-spark.txt
	touch $@

# One line per block, then this run's answers; Mage's whole output goes to a log file (VERBOSE=1 shows it).
# FULL_REFRESH=1: rebuild from every file; FROM=YYYY-MM-DD TO=YYYY-MM-DD: reload those days' dated files.
RUN_OPTIONS = $(if $(VERBOSE),--verbose) $(if $(FULL_REFRESH),--full-refresh) $(if $(FROM),--from $(FROM)) \
	$(if $(TO),--to $(TO))
run: venv $(if $(filter $(SPARK_PIPELINE),$(PIPELINE)),spark)
	@$(WITH_DOTENV) $(PY) -m tools.run --pipeline $(PIPELINE) $(RUN_OPTIONS)

run-spark: spark
	@$(WITH_DOTENV) $(PY) -m tools.run --pipeline $(SPARK_PIPELINE) $(if $(VERBOSE),--verbose)

# Lint: Python with ruff (pyflakes errors, syntax, import order), the SQL blocks with sqlfluff
# (the rules that matter here), tracked files with detect-secrets. The tests run all three.
# The settings of both are in pyproject.toml.
RUFF_ARGS := check --no-cache mage_project tools tests
# detect-secrets reads every tracked file but the generated sample data and the images.
SECRETS_FILES := . ':!:dataset/*.csv' ':!:*.png'
lint: tools
	.venv-tools/bin/ruff $(RUFF_ARGS)
	.venv-tools/bin/sqlfluff lint mage_project/transformers
	git ls-files -z -- $(SECRETS_FILES) | xargs -0 .venv-tools/bin/detect-secrets-hook

# The Mage editor on this project, login required; prints the address and the owner's login.
editor: venv
	@$(WITH_ENV) $(PY) -m tools.editor $${MAGE_PORT:-6789}

answers: venv
	@$(WITH_ENV) $(PY) -m tools.answers

test: dev tools spark
	@set -a; if [ -f .env ]; then . ./.env; fi; set +a; ENV=test $(PY) -m pytest $(PYTEST_ARGS)

# The tests that need at most a database (tests/conftest.py marks each test with what it needs).
FAST := not (mage or server or browser or spark or docker)
test-fast: dev tools
	@set -a; if [ -f .env ]; then . ./.env; fi; set +a; ENV=test $(PY) -m pytest -m '$(FAST)' $(PYTEST_ARGS)

# The benchmark: the pipeline against psql \copy (the floor) and pandas to_sql; EVENTS=2000000 by default.
# ENGINE=spark adds the Spark pipeline with local[1] and local[2] (SPARK_MASTERS to change them).
# FILES=41: the incremental case instead (EVENTS as 41 files: 40 loaded, then 1 new).
EVENTS ?= 2000000
ENGINE ?= postgres
SPARK_MASTERS ?= local[1],local[2]
bench: venv $(if $(filter spark,$(ENGINE)),spark)
	@$(WITH_ENV) $(PY) -m tools.bench --events $(EVENTS) --engine $(ENGINE) --spark-masters '$(SPARK_MASTERS)' \
		$(if $(FILES),--files $(FILES))

# Regenerate the locks in throwaway venvs: the pipeline's from requirements.in, the tests' (what
# requirements-dev.in adds to it) and the linters'.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Full lock of requirements.in for Python 3.11, generated by 'make lock'. Do not edit by hand."; \
	  .venv-lock/bin/pip freeze; } > requirements.txt
	.venv-lock/bin/pip install --quiet -c requirements.txt -r requirements-dev.in
	{ echo "# What requirements-dev.in adds to requirements.txt, full lock, generated by 'make lock'. Do not edit by hand."; \
	  .venv-lock/bin/pip freeze | grep -vxFf requirements.txt; } > requirements-dev.txt
	rm -rf .venv-lock
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet check-jsonschema ruff sqlfluff detect-secrets
	{ echo "# Tools that cannot share .venv with mage-ai (check-jsonschema needs a newer ruamel.yaml) and the linters;"; \
	  echo "# installed into .venv-tools by 'make test'. Full lock; regenerate with 'make lock'."; \
	  .venv-lock/bin/pip freeze; } > requirements-tools.txt
	rm -rf .venv-lock

pg-stop: venv
	@$(PY) -m tools.local_pg stop

clean: pg-stop
	rm -rf .pgdata .mage_data
