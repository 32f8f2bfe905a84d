# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv on first use with the pinned training set (constraints.txt).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.crackedge-installed

.PHONY: setup demo test test-floors test-all bench clean-venv pi-wheel test-ov2022 pi-check

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
# tests run when ../shared/datasets exists and skip otherwise. One kind (tests/conftest.py TEST_KINDS):
# PYTEST_ARGS='-m unit' (or integration, system); PYTEST_ARGS='-m "not slow"' leaves out the long ones.
test: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

# The edge tests on the LOWEST versions pyproject.toml declares for the core and the edge extra
# (tools/floors.py), in a venv of their own: a floor that does not install or work fails here.
# Every tests/test_edge_*.py module (whatever its kind), less the slow tests.
FLOORS_VENV ?= .venv-floors
EDGE_TESTS ?= $(wildcard tests/test_edge_*.py)
test-floors:
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/python -m pip install -q --upgrade pip
	$(FLOORS_VENV)/bin/python -m pip install -q $$($(PYTHON) tools/floors.py edge) pytest psutil "onnx==1.16.2"
	$(FLOORS_VENV)/bin/python -m pip install -q --no-deps -e .
	$(FLOORS_VENV)/bin/python -m pip list 2>/dev/null | grep -iE "^(numpy|opencv|pyyaml|pydantic|tqdm|openvino|simplejpeg|prometheus)"
	$(FLOORS_VENV)/bin/python -m pytest -q -m "not slow" -p no:cacheprovider $(EDGE_TESTS)

bench: setup
	$(VENV)/bin/crackedge bench-report $(BENCH_ARGS)

# The wheel a Raspberry Pi installs (docs/pi-install.md): dist/crackedge-<version>-py3-none-any.whl.
pi-wheel: setup
	$(PY) -m pip wheel --no-deps --no-build-isolation --wheel-dir dist .

# OpenVINO 2022.3 (the NCS2 software path) for real: a Python 3.10 venv in build/ov2022-venv with
# openvino==2022.3.2 and constraints/ncs2.txt (PyPI once), then tests/test_openvino_2022.py.
# Without a Python 3.10 it says so and the tests skip with that reason.
test-ov2022: setup
	$(PY) tools/ov2022_env.py
	CRACKEDGE_OV2022=1 $(PY) -m pytest tests/test_openvino_2022.py -v -rs $(PYTEST_ARGS)

# The Pi install under emulation (tens of minutes, needs root, debootstrap, qemu-user-static and the
# network): an arm64 Debian 12 root, docs/pi-install.md's commands as written (CPU and camera),
# the edge tests, `edge run` compared with x86, Cortex-A72/A76 precision choice. Not part of `make test`.
pi-check: setup
	nice -n 19 $(PY) tools/pi_check.py $(PI_CHECK_ARGS)

clean-venv:
	rm -rf $(VENV)
