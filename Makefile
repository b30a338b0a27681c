# chainrule: set-up, demo, tests and benchmarks. GNU make; run `make help` for the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS := train,notebooks,test,bench
TORCH_VERSION := 2.13.0
LINT_PATHS = $(wildcard autograd nn tests benchmarks scripts notebooks)
# Notebooks run one at a time: kernels started at the same moment by two xdist workers can race for
# the same TCP port (ZMQError: Address already in use), a known failure of parallel nbmake runs.
NBTEST = $(PY) -m pytest -q --nbmake --nbmake-timeout=900 notebooks
# Tests run two pytest workers on two cores: one BLAS thread each avoids oversubscription, which
# otherwise makes small matrix products orders of magnitude slower on a busy machine.
TEST_ENV = OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# setuptools' editable install maps only the top-level packages that exist when it runs, so the
# stamp's name records which ones did: a package created later triggers one reinstall.
empty :=
space := $(empty) $(empty)
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard autograd/__init__.py nn/__init__.py))
STAMP := $(VENV)/.installed$(subst $(space),,$(PACKAGES:%=-%))

# System packages come from apt-get, as root or through sudo; otherwise we only warn.
ifeq ($(shell id -u),0)
  SUDO :=
  CAN_APT := $(if $(shell command -v apt-get),yes,)
else
  SUDO := sudo -n
  CAN_APT := $(if $(and $(shell command -v sudo),$(shell command -v apt-get)),yes,)
endif
APT_INSTALL = $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q

.PHONY: help venv .venv sysdeps torch demo test lint fuzz bench figures clean distclean

help:
	@echo "make demo       set everything up, then train the CNN on the embedded digits (runs/demo)"
	@echo "make test       set everything up, then ruff, the test suite and the notebooks"
	@echo "make venv       system Graphviz if missing, and $(VENV) with chainrule[$(EXTRAS)]"
	@echo "make torch      add torch==$(TORCH_VERSION) (CPU) to $(VENV), for the PyTorch comparisons"
	@echo "make fuzz       the long property runs (pytest -m slow, more hypothesis examples)"
	@echo "make bench      benchmarks/run.py --rounds 3 (each row 3 times, columns in turn)"
	@echo "make figures    scripts/make_figures.py"
	@echo "make lint       ruff only"
	@echo "make clean      caches, build files and runs/ (keeps $(VENV)); distclean removes $(VENV) too"

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

$(STAMP): pyproject.toml | sysdeps
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --progress-bar off --upgrade pip
	$(PY) -m pip install -q --progress-bar off -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed*
	touch $@

torch: venv
	@if $(PY) -c "import importlib.metadata as m, sys; \
	    sys.exit(m.version('torch').split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null; then \
	  echo "torch $(TORCH_VERSION) is installed"; \
	else \
	  $(PY) -m pip install -q --progress-bar off 'torch==$(TORCH_VERSION)'; \
	fi

demo: venv
	$(VENV)/bin/chainrule train --model cnn --data digits --out runs/demo

lint: venv
	$(PY) -m ruff check $(LINT_PATHS)

test: lint
	$(TEST_ENV) $(PY) -m pytest -q -n 2 tests
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  echo "$(NBTEST)"; $(TEST_ENV) $(NBTEST); \
	else \
	  echo "no notebooks/*.ipynb yet: skipping the notebook run"; \
	fi

fuzz: venv
	$(TEST_ENV) CHAINRULE_FUZZ_EXAMPLES=2000 $(PY) -m pytest -q -n 2 -m slow -rP tests  # -rP prints how many programs were fuzzed

bench: venv
	$(PY) benchmarks/run.py --rounds 3

figures: venv
	$(PY) scripts/make_figures.py

clean:
	find . -path ./$(VENV) -prune -o -type d \
	  \( -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache -o -name .hypothesis \
	     -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -print0 | xargs -0 rm -rf
	rm -rf runs build dist

distclean: clean
	rm -rf $(VENV)
