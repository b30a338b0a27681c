# chainrule: set-up, demo, tests and benchmarks. GNU make; run `make help` for the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two installs: the runtime (the package and its `train` extra: what `make demo`, `make bench` and
# `make figures` need) and the full set-up for development (`make venv`, `make test`).
RUNTIME_EXTRAS := train
EXTRAS := train,notebooks,test,bench
TORCH_VERSION := 2.13.0
# `make bench BENCH_ARGS="--only tanh --rounds 1"`: any options of benchmarks/run.py (see its --help)
BENCH_ARGS ?= --rounds 3
LINT_PATHS = $(wildcard autograd nn tests benchmarks scripts notebooks)
NOTEBOOKS = $(sort $(wildcard notebooks/[0-9]*.py))
# Notebooks run one at a time: kernels started at the same moment by two xdist workers can race for
# the same TCP port (ZMQError: Address already in use), a known failure of parallel nbmake runs.
NBTEST = $(PY) -m pytest -q --nbmake --nbmake-timeout=900 notebooks
# Tests run two pytest workers on two cores: one BLAS thread each avoids oversubscription, which
# otherwise makes small matrix products orders of magnitude slower on a busy machine.
TEST_ENV = OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# setuptools' editable install maps only the top-level packages that exist when it runs, so the
# stamps' names record which ones did: a package created later triggers one reinstall. The full
# stamp depends on the runtime stamp, so a changed pyproject.toml redoes both, in that order.
empty :=
space := $(empty) $(empty)
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard autograd/__init__.py nn/__init__.py))
PACKAGES_TAG := $(subst $(space),,$(PACKAGES:%=-%))
RUNTIME_STAMP := $(VENV)/.runtime$(PACKAGES_TAG)
STAMP := $(VENV)/.installed$(PACKAGES_TAG)

# System packages come from apt-get, as root or through sudo; otherwise we only warn.
ifeq ($(shell id -u),0)
  SUDO :=
  CAN_APT := $(if $(shell command -v apt-get),yes,)
else
  SUDO := sudo -n
  CAN_APT := $(if $(and $(shell command -v sudo),$(shell command -v apt-get)),yes,)
endif
APT_INSTALL = $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q

.PHONY: help runtime venv .venv sysdeps torch demo test lint nbsync fuzz bench figures clean distclean

help:
	@echo "make demo       install the runtime, then train the CNN on the embedded digits (runs/demo)"
	@echo "make test       set everything up, then ruff, the notebook pairs, the test suite and the notebooks"
	@echo "make runtime    system Graphviz if missing, and $(VENV) with chainrule[$(RUNTIME_EXTRAS)]"
	@echo "make venv       the runtime, plus the extras for development: chainrule[$(EXTRAS)]"
	@echo "make torch      add torch==$(TORCH_VERSION) (CPU) to $(VENV), for the PyTorch comparisons"
	@echo "make fuzz       the long property runs (pytest -m slow, more hypothesis examples)"
	@echo "make bench      benchmarks/run.py $(BENCH_ARGS) (a table against PyTorch and NumPy; BENCH_ARGS=\"--only tanh\")"
	@echo "make figures    scripts/make_figures.py"
	@echo "make lint       ruff, and the check that each notebooks/NN_*.py matches its .ipynb (nbsync)"
	@echo "make clean      caches, build files and runs/ (keeps $(VENV)); distclean removes $(VENV) too"

runtime: $(RUNTIME_STAMP)

venv .venv: $(STAMP)

# Cheap checks, run on every `make venv`; apt-get only runs when something is missing.
sysdeps:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "chainrule needs Python >= 3.10; set PYTHON=/path/to/python3.x" >&2; exit 1; }
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="graphviz"; \
	[ -x $(PY) ] || $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$(CAN_APT)" = yes ]; then \
	    echo "Installing system packages:$$missing"; \
	    $(APT_INSTALL) $$missing; \
	  else \
	    echo "warning: missing system packages ($$missing ) and no apt-get as root or sudo;" \
	         "install them by hand (without Graphviz, graph pictures can only be saved as .dot)" >&2; \
	  fi; \
	fi

$(RUNTIME_STAMP): pyproject.toml | sysdeps
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --progress-bar off --upgrade pip
	$(PY) -m pip install -q --progress-bar off -e '.[$(RUNTIME_EXTRAS)]'
	rm -f $(VENV)/.runtime*
	touch $@

$(STAMP): $(RUNTIME_STAMP)
	$(PY) -m pip install -q --progress-bar off -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed*
	touch $@

torch: runtime
	@if $(PY) -c "import importlib.metadata as m, sys; \
	    sys.exit(m.version('torch').split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null; then \
	  echo "torch $(TORCH_VERSION) is installed"; \
	else \
	  $(PY) -m pip install -q --progress-bar off 'torch==$(TORCH_VERSION)'; \
	fi
	@# torch's OpInfo database (tests/torch_opinfo) imports expecttest, which torch does not install
	@$(PY) -c "import expecttest" 2>/dev/null || $(PY) -m pip install -q --progress-bar off 'expecttest>=0.2'

demo: runtime
	$(VENV)/bin/chainrule train --model cnn --data digits --out runs/demo

lint: venv nbsync
	$(PY) -m ruff check $(LINT_PATHS)

# Each notebook's source is notebooks/NN_name.py (jupytext percent format), paired with the
# committed NN_name.ipynb. Both must hold the same cells: convert each .py to a notebook in a
# temporary folder and compare cell types and sources with the committed one.
NB_CELLS = import json, sys; cells = lambda p: [(c["cell_type"], "".join(c["source"])) for c in json.load(open(p))["cells"]]; sys.exit(cells(sys.argv[1]) != cells(sys.argv[2]))
nbsync: venv
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; stale=""; \
	for ipynb in notebooks/[0-9]*.ipynb; do \
	  [ -e "$${ipynb%.ipynb}.py" ] || stale="$$stale $$ipynb (no .py)"; \
	done; \
	for py in $(NOTEBOOKS); do \
	  name=$$(basename "$${py%.py}"); \
	  $(PY) -m jupytext --quiet --to ipynb --output "$$tmp/$$name.ipynb" "$$py"; \
	  if [ ! -e "notebooks/$$name.ipynb" ]; then stale="$$stale $$py (no .ipynb)"; \
	  elif ! $(PY) -c '$(NB_CELLS)' "$$tmp/$$name.ipynb" "notebooks/$$name.ipynb"; then stale="$$stale $$py"; fi; \
	done; \
	if [ -n "$$stale" ]; then \
	  echo "notebooks out of sync with their .py:$$stale" >&2; \
	  echo "edit the .py, then run: $(PY) -m jupytext --sync notebooks/[0-9]*.py" >&2; exit 1; \
	fi; \
	echo "nbsync: $(words $(NOTEBOOKS)) notebooks match their .py"

test: lint
	$(TEST_ENV) $(PY) -m pytest -q -n 2 tests
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  echo "$(NBTEST)"; $(TEST_ENV) $(NBTEST); \
	else \
	  echo "no notebooks/*.ipynb yet: skipping the notebook run"; \
	fi

fuzz: venv
	$(TEST_ENV) CHAINRULE_FUZZ_EXAMPLES=2000 $(PY) -m pytest -q -n 2 -m slow -rP tests  # -rP prints how many programs were fuzzed

bench: runtime
	$(PY) benchmarks/run.py $(BENCH_ARGS)

figures: runtime
	$(PY) scripts/make_figures.py

clean:
	find . -path ./$(VENV) -prune -o -type d \
	  \( -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache -o -name .hypothesis \
	     -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -print0 | xargs -0 rm -rf
	rm -rf runs build dist

distclean: clean
	rm -rf $(VENV)
