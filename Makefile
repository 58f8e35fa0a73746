# The two commands a newcomer needs: `make run` and `make test`.
# Only python3 (3.11+) and make are required; everything else lands in .venv.

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
WS_PORT ?= 8001
VENV := .venv
BIN := $(VENV)/bin
# Extra arguments for pytest, e.g. `make test ARGS="-k refresh -x"`.
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install install-dev run serve test lint typecheck format check clean bench bench-integrations bench-servers bench-sockets soak fuzz

help:
	@echo "make run    serve HTTP and WebSocket on $(HOST):$(PORT) (embedded defaults)"
	@echo "make serve  production layout: nginx on $(PORT) in front of gunicorn and daphne (/ws/); needs REDIS_URL and nginx"
	@echo "make test   the whole test suite (PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make typecheck  mypy with the Django and DRF plugins (pyproject.toml [tool.mypy])"
	@echo "make format ruff format and ruff check --fix"
	@echo "make bench  load benchmarks on local PostgreSQL + Redis (needs wrk); BENCH_QUICK=1 for a smoke run"
	@echo "make bench-integrations  webhook deliveries/s, a write with 10 webhooks, sync of 10,000 changes"
	@echo "make bench-servers  the API under gunicorn sync and gthread workers and granian (needs wrk)"
	@echo "make bench-sockets  server CPU per WebSocket frame (daphne vs uvicorn) and issue 26's socket targets"
	@echo "make soak   ten minutes of mixed load: errors and memory growth (BENCH_SOAK_SECONDS)"
	@echo "make fuzz   schemathesis against the server's own /api/schema/ (FUZZ_EXAMPLES=100 per operation)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a requirements file changed.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(VENV)/.runtime-installed $@

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed

# The background worker (webhook deliveries) runs beside the server and stops with it.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py db_worker --no-startup-delay --no-reload & worker=$$!; \
		trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
		$(BIN)/python manage.py runserver $(HOST):$(PORT)

# nginx on PORT in front of gunicorn (HTTP, a Unix socket) and daphne (/ws/, loopback) (scripts/serve),
# as docker-compose runs them. Several processes: the cache and events need REDIS_URL.
serve: install
	@test -n "$$REDIS_URL" || { echo "make serve: set REDIS_URL (the processes share the cache and events through Redis); one process on embedded defaults: make run" >&2; exit 2; }
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	HOST=$(HOST) PORT=$(PORT) WS_PORT=$(WS_PORT) BIN=$(BIN) scripts/serve

# The suite needs a SECRET_KEY when it runs on PostgreSQL with DEBUG off (production
# rules); a throw-away one is given here unless the caller set their own.
test: install-dev
	SECRET_KEY="$${SECRET_KEY:-test-only-$$(date +%s)-not-a-secret-0123456789abcdefghij}" \
		$(BIN)/pytest -n auto $(ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Not part of `make test` or CI: several minutes of load on the local PostgreSQL and
# Redis (a throw-away database and key prefix), then bench/RESULTS.md and results.json.
bench: install-dev
	$(BIN)/python bench/run.py

# Issue 25's targets (bench/integrations.py): webhook deliveries per second through one
# worker, a write's added latency with 10 webhooks, sync of 10,000 changes. Needs a
# quiet machine; BENCH_PARTS=webhooks,write,sync picks parts, BENCH_QUICK=1 a smoke run.
bench-integrations: install-dev
	$(BIN)/python bench/integrations.py

# The same app under each candidate WSGI server (bench/servers.py): the choice of
# gunicorn sync workers, with the figures. Its own section of bench/RESULTS.md.
bench-servers: install-dev
	$(BIN)/python bench/servers.py

# Issue 26 (bench/sockets.py): server CPU per frame at 2,000 sockets for daphne and
# uvicorn's protocols, 4,000 sockets on two processes. Its own section of bench/RESULTS.md.
bench-sockets: install-dev
	$(BIN)/python bench/sockets.py --servers daphne,uvicorn,uvicorn-asyncio,uvicorn-wsproto,uvicorn-websockets

# Ten minutes of the mixed load (bench/soak.py): errors and memory growth. Not in CI.
soak: install-dev
	$(BIN)/python bench/soak.py

# Contract fuzzing (scripts/fuzz): a fresh database (PostgreSQL when DATABASE_URL is
# set, else SQLite) and gunicorn, then schemathesis as a member and as an admin.
fuzz: install-dev
	$(BIN)/python scripts/fuzz

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
