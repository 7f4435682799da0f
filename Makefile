# Two entry points, each doing its own set-up into .venv/:
#   make lab   -> JupyterLab on notebooks/ (prints the URL)
#   make test  -> unit tests + every notebook under nbval, then the same notebooks again in
#                 Colab's package versions (make test-colab)
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3
VENV ?= $(ROOT)/.venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

LAB_IP ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_ARGS ?=
PYTEST_ARGS ?=

# Running as root (containers, CI) needs --allow-root, or jupyter refuses to start.
ifeq ($(shell id -u),0)
  LAB_ROOT_FLAG := --allow-root
endif

NOTEBOOKS := $(wildcard $(ROOT)/notebooks/*.ipynb)
# --nbval-current-env: run notebooks with this venv's python, whatever kernels
# are registered elsewhere on the machine.
NBVAL_ARGS := $(if $(strip $(NOTEBOOKS)),--nbval-lax --nbval-current-env $(NOTEBOOKS))

# Settings for `make test` alone: the notebooks' smallest profile and a matplotlib that
# draws off-screen. `make lab` passes none of them: JupyterLab gets the user's environment,
# so the notebooks pick their own profile (quick on a CPU, full on a GPU) and draw inline.
TEST_PROFILE ?= smoke
TEST_ENV := OKDDIP_PROFILE=$(TEST_PROFILE) MPLBACKEND=Agg

# Offline CIFAR-10 subset: use the shared copy when it exists and nothing else was given.
CIFAR10_5K_DEFAULT := $(abspath $(ROOT)/../shared/data/cifar10_train_prefix.npz)
ifeq ($(strip $(OKDDIP_CIFAR10_5K)),)
  ifneq ($(wildcard $(CIFAR10_5K_DEFAULT)),)
    OKDDIP_CIFAR10_5K := $(CIFAR10_5K_DEFAULT)
  endif
endif
ifneq ($(strip $(OKDDIP_CIFAR10_5K)),)
  export OKDDIP_CIFAR10_5K
endif

# Colab's environment (colab/pins.txt, from Colab's published package list): .colab/env/,
# made by colab/colab_env.py with the Python that makes .venv, whose torch and torchvision
# it reuses (.colab/reused/). Built once (Colab's versions, which need nothing of .venv and
# can be installed beside it: `make -j2 test-setup`; then the link to .venv's torch); rebuilt
# only when the pins or the script change. Each run installs the package there as the
# notebooks' install cell does, fails if a pinned version moved, and runs every notebook and
# the widget and figure tests (ipywidgets 7.7) from a folder outside the repository.
COLAB_DIR ?= $(ROOT)/.colab
COLAB_ENV := $(COLAB_DIR)/env
COLAB_PY := $(COLAB_ENV)/bin/python
COLAB_BASE := $(COLAB_ENV)/.colab-versions
COLAB_STAMP := $(COLAB_ENV)/.installed
COLAB_SCRIPT := $(ROOT)/colab/colab_env.py
COLAB_ARGS = --env $(COLAB_ENV) --reused $(COLAB_DIR)/reused

.PHONY: help setup test-setup lab test test-colab clean distclean

help:
	@echo "make lab    start JupyterLab on notebooks/ (http://$(LAB_IP):$(LAB_PORT), URL printed below)"
	@echo "make test   run tests/ and every notebooks/*.ipynb (nbval, smoke profile), then"
	@echo "            the Colab run (make test-colab)"
	@echo "make test-colab  in Colab's package versions (colab/pins.txt): install the package"
	@echo "            as the notebooks do, check nothing moved, run every notebook and the"
	@echo "            widget and figure tests (ipywidgets 7.7)"
	@echo "make clean  remove caches and the install stamp (next run reinstalls)"
	@echo "make distclean  also remove .venv/ and .colab/"

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the declared dependencies or the pins change.
$(STAMP): $(ROOT)/pyproject.toml $(ROOT)/constraints.txt | $(VENV_PY)
	cd $(ROOT) && $(VENV_PY) -m pip install -c constraints.txt -e ".[lab,test,ray]"
	touch $@

$(COLAB_BASE): $(ROOT)/colab/pins.txt $(COLAB_SCRIPT)
	$(PYTHON) $(COLAB_SCRIPT) base $(COLAB_ARGS)
	touch $@

$(COLAB_STAMP): $(COLAB_BASE) $(ROOT)/constraints.txt | $(STAMP)
	$(VENV_PY) $(COLAB_SCRIPT) reuse $(COLAB_ARGS)
	touch $@

setup: $(STAMP)

# Both environments; with -j2 (as .ci/run) the two installs run side by side.
test-setup: $(STAMP) $(COLAB_STAMP)

lab: $(STAMP)
	mkdir -p $(ROOT)/notebooks
	cd $(ROOT) && $(VENV)/bin/jupyter lab --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) \
		--ServerApp.root_dir=$(ROOT)/notebooks $(LAB_ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP) $(COLAB_STAMP)
	cd $(ROOT) && $(TEST_ENV) $(VENV_PY) -m pytest tests $(NBVAL_ARGS) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-colab

test-colab: $(COLAB_STAMP)
	cd $(ROOT) && $(TEST_ENV) $(COLAB_PY) $(COLAB_SCRIPT) run $(COLAB_ARGS)

clean:
	rm -f $(STAMP)
	rm -rf $(ROOT)/.pytest_cache $(ROOT)/.hypothesis $(ROOT)/build $(ROOT)/*.egg-info
	find $(ROOT) -path $(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 \
		| xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(COLAB_DIR) $(ROOT)/.venv-ipywidgets7
