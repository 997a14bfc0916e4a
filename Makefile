# Two commands for a fresh machine: `make run` (install + start with the sandbox), `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DEBUG ?= 1

.PHONY: run test install migrate superuser bench bench-background clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@PORT=$(PORT) $(BIN)/python -m config.preflight $(PORT)
	@# runall: the development server with the worker and the scheduler inside it (Procfile for production)
	PORT=$(PORT) $(BIN)/python manage.py runall 127.0.0.1:$(PORT)

superuser: migrate
	$(BIN)/python manage.py createsuperuser

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Needs REDIS_URL (the broker): ack rate, end-to-end rate against the ceiling, backlog (bench/background.py)
bench-background: install
	$(BIN)/python bench/background.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artifacts
