# mea-reporting: `make run` (a full nightly run on the embedded default against the local
# replica; `make run PROFILE=celery`: PostgreSQL metadata, Celery worker, PostgreSQL warehouse) and `make test` (the whole suite). Both set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen --no-sync

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__EXECUTOR := LocalExecutor
export AIRFLOW__CORE__PARALLELISM := 4
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG := 4
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(CURDIR)/.airflow/airflow.db
export AIRFLOW__LOGGING__LOGGING_LEVEL := WARNING
export GX_ANALYTICS_ENABLED := false
export TQDM_DISABLE := 1
# Quiet runs: two harmless library warnings (no graphviz for the CLI's graph rendering; starlette's
# httpx deprecation) and deprecation warnings are not for a run's reader. (The DAG file quiets the
# "No tasks to run" that `airflow dags test` logs every second while a retry waits.)
export PYTHONWARNINGS := ignore:Could not import graphviz:UserWarning,ignore:Using `httpx` with `starlette.testclient` is deprecated:UserWarning,ignore::DeprecationWarning

.PHONY: setup run test releases rollback backfill reprocess clean bench
setup: .venv/.synced .airflow/.migrated

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode --quiet
	@touch $@

.airflow/.migrated: .venv/.synced
	@mkdir -p .airflow
	$(RUN) airflow db migrate >/dev/null
	@touch $@

PROFILE ?= embedded
CONCURRENCY ?= 2
ifeq ($(PROFILE),celery)
NIGHTLY = $(RUN) python -m replica exec -- python -m outputs.cluster --concurrency $(CONCURRENCY)
else
NIGHTLY = $(RUN) python -m replica exec -- airflow dags test mea_reporting_nightly
endif
# A failed run exits non-zero and ends with what failed: the task, its source and the cause.
run: setup
	@started=$$(date +%s); echo '$(NIGHTLY)'; $(NIGHTLY) || { status=$$?; echo; \
		$(RUN) python -m outputs.summary --failed --since $$started; exit $$status; }
	@echo; $(RUN) python -m outputs.summary

test: setup
	$(RUN) pytest

# Benchmarks at real-world scale (bench/README.md): SCALE=1 is the full corpus; not part of make test.
SCALE ?= 0.05
RUNS ?= 3
bench: setup
	$(UV) run --frozen --group bench python -m bench.run --scale $(SCALE) --runs $(RUNS)

releases: setup
	$(RUN) python -m outputs.history list

rollback: setup
	@test -n "$(RELEASE)" || { echo "usage: make rollback RELEASE=<release_id> (see make releases)"; exit 2; }
	$(RUN) python -m outputs.history rollback $(RELEASE)

backfill: setup
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD"; exit 2; }
	$(RUN) python -m replica exec -- python -m outputs.operate backfill $(FROM) $(TO)
	@echo; $(RUN) python -m outputs.summary

reprocess: setup
	@test -n "$(SOURCES)" || { echo "usage: make reprocess SOURCES=cms-ors [CYCLES=cms:COP13] [COUNTRIES=KEN,TZA]"; exit 2; }
	$(RUN) python -m outputs.operate reprocess --sources "$(SOURCES)" --countries "$(COUNTRIES)" --cycles "$(CYCLES)"
	@echo; $(RUN) python -m outputs.summary

clean:
	rm -rf .airflow var
