# Two commands do all the set-up on a fresh machine (Python >= 3.11 and the package registries):
#   make demo   creates .venv, installs CodeRunner, starts the embedded stack and runs the demo
#   make test   creates .venv, installs CodeRunner with test extras; ruff, mypy, lint-imports, pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install system-deps tools lint bench down clean

$(BIN)/coderunner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/coderunner system-deps

# bubblewrap (app sandboxes) and haproxy (the routers), from Debian's packages: installed as root,
# else a one-line fix and exit 1. `tools` adds what the tests and benchmarks use.
system-deps:
	@sh deploy/system-deps.sh runtime

tools:
	@sh deploy/system-deps.sh test

demo: install
	$(BIN)/coderunner up
	$(BIN)/coderunner demo

# three pytest workers (each with its own Temporal dev server and sandbox host), a test file per worker
# at a time: most real-stack tests wait on timers and processes, so three share 2 cores well (measured
# on 2 cores: 14 min 26 s and 49 % CPU busy with two workers, 10 min 14 s and 81 % with three)
test: install lint tools
	$(BIN)/pytest -q -n 3 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install tools
	$(BIN)/python bench/health_fanout.py
	$(BIN)/python bench/deploy_throughput.py
	$(BIN)/python bench/router_vs_haproxy.py

down:
	$(BIN)/coderunner down

clean: down
	rm -rf $(VENV) .coderunner
