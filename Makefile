# Two commands do all the set-up on a fresh machine (Python >= 3.11 and the package registries):
#   make demo   creates .venv, installs CodeRunner, starts the embedded stack and runs the demo
#   make test   creates .venv, installs CodeRunner with test extras; ruff, mypy, lint-imports, pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install tools lint bench down clean

$(BIN)/coderunner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/coderunner

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
