# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv on first use with the pinned training set (constraints.txt).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.crackedge-installed

.PHONY: setup demo test test-all bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[train,edge,serve,remote,dev]"
	touch $(STAMP)

# The main job end to end on the built-in synthetic default. DEMO_ARGS="--data DIR" for real data.
demo: setup
	$(VENV)/bin/crackedge demo --out runs/demo $(DEMO_ARGS)

# The layer rules (import-linter contracts in pyproject.toml), then the test suite. Data-marked
# tests run when ../shared/datasets exists and skip otherwise.
test: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/crackedge bench-report $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
