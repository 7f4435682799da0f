# Two entry points, each doing its own set-up into .venv/:
#   make lab   -> JupyterLab on notebooks/ (prints the URL)
#   make test  -> unit tests + every notebook under nbval
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

# Notebooks run their smallest configuration under test.
export OKDDIP_PROFILE ?= smoke
export MPLBACKEND ?= Agg

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

.PHONY: help setup lab test clean distclean

help:
	@echo "make lab    start JupyterLab on notebooks/ (http://$(LAB_IP):$(LAB_PORT), URL printed below)"
	@echo "make test   run tests/ and every notebooks/*.ipynb (nbval, smoke profile)"
	@echo "make clean  remove caches and the install stamp (next run reinstalls)"
	@echo "make distclean  also remove .venv/"

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the declared dependencies or the pins change.
$(STAMP): $(ROOT)/pyproject.toml $(ROOT)/constraints.txt | $(VENV_PY)
	cd $(ROOT) && $(VENV_PY) -m pip install -c constraints.txt -e ".[test,ray]"
	touch $@

setup: $(STAMP)

lab: $(STAMP)
	mkdir -p $(ROOT)/notebooks
	cd $(ROOT) && $(VENV)/bin/jupyter lab --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) \
		--ServerApp.root_dir=$(ROOT)/notebooks $(LAB_ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	cd $(ROOT) && $(VENV_PY) -m pytest tests $(NBVAL_ARGS) $(PYTEST_ARGS)

clean:
	rm -f $(STAMP)
	rm -rf $(ROOT)/.pytest_cache $(ROOT)/.hypothesis $(ROOT)/build $(ROOT)/*.egg-info
	find $(ROOT) -path $(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 \
		| xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
