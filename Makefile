# Two commands do all the set-up on a fresh machine (Python >= 3.11 and the package registries):
#   make demo   creates .venv, installs CodeRunner, starts the embedded stack and runs the demo
#   make test   creates .venv, installs CodeRunner with test extras; ruff, mypy, lint-imports, pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install lint bench down clean haproxy wrk

$(BIN)/coderunner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/coderunner haproxy

# The routers that carry user traffic are HAProxy processes (Debian package); installed here, or a
# one-line fix when this user cannot install packages.
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; }; }; } || \
	  { echo "haproxy is missing and cannot be installed here: run 'sudo apt-get install haproxy'"; exit 1; }

wrk:
	@command -v wrk >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }; }; } || \
	  { echo "wrk is missing and cannot be installed here: run 'sudo apt-get install wrk'"; exit 1; }

demo: install
	$(BIN)/coderunner up
	$(BIN)/coderunner demo

test: install lint
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install wrk
	$(BIN)/python bench/health_fanout.py
	$(BIN)/python bench/deploy_throughput.py
	$(BIN)/python bench/router_vs_haproxy.py

down:
	$(BIN)/coderunner down

clean: down
	rm -rf $(VENV) .coderunner
