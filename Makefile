# Two commands do all the set-up on a fresh machine (Python >= 3.11 and the package registries):
#   make demo   creates .venv, installs CodeRunner, starts the embedded stack and runs the demo
#   make test   creates .venv, installs CodeRunner with test extras; ruff, mypy, lint-imports, pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install tools lint bench down clean sandbox-deps

$(BIN)/coderunner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/coderunner sandbox-deps

# App instances run under bubblewrap (Debian package `bubblewrap`): installed here when we are root
# with apt-get; otherwise the one-line fix. (`isolation: none` in a spec runs an app without it.)
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; }; \
	  else \
	    echo "bubblewrap is required to sandbox app instances: run 'sudo apt-get install bubblewrap'" >&2; \
	    exit 1; \
	  fi; }

demo: install
	$(BIN)/coderunner up
	$(BIN)/coderunner demo

test: install lint tools
	$(BIN)/pytest -q

# promtool + prometheus (alert rules, a real scrape) and docker-compose (`config` validation), from
# Debian's packages; no Docker engine is needed. Without root it prints the one-line fix instead.
tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v docker-compose >/dev/null \
	|| { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     --no-install-recommends prometheus docker-compose >/dev/null; } \
	|| echo "missing promtool/prometheus/docker-compose: run 'sudo apt-get install prometheus docker-compose'"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/health_fanout.py
	$(BIN)/python bench/deploy_throughput.py

down:
	$(BIN)/coderunner down

clean: down
	rm -rf $(VENV) .coderunner
