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

# ipywidgets 7.7 (Colab's line): a small second environment, a folder holding only
# ipywidgets 7.7 and the one package it adds, put in front of .venv's packages. The widget
# and figure tests run there too, so every widget is checked on ipywidgets 7.7 and 8.
IPYW7_DIR ?= $(ROOT)/.venv-ipywidgets7
IPYW7_STAMP := $(IPYW7_DIR)/.installed
IPYW7_PINS := "ipywidgets==7.7.*" "ipython_genutils==0.2.*"
IPYW7_TESTS := tests/test_widgets.py tests/test_plots_curves.py tests/test_plots_softmax_attention.py

.PHONY: help setup lab test test-ipywidgets7 clean distclean

help:
	@echo "make lab    start JupyterLab on notebooks/ (http://$(LAB_IP):$(LAB_PORT), URL printed below)"
	@echo "make test   run tests/ and every notebooks/*.ipynb (nbval, smoke profile), then"
	@echo "            the widget and figure tests again on ipywidgets 7.7 (make test-ipywidgets7)"
	@echo "make clean  remove caches and the install stamp (next run reinstalls)"
	@echo "make distclean  also remove .venv/ and .venv-ipywidgets7/"

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the declared dependencies or the pins change.
$(STAMP): $(ROOT)/pyproject.toml $(ROOT)/constraints.txt | $(VENV_PY)
	cd $(ROOT) && $(VENV_PY) -m pip install -c constraints.txt -e ".[lab,test,ray]"
	touch $@

$(IPYW7_STAMP): $(ROOT)/Makefile | $(VENV_PY)
	rm -rf $(IPYW7_DIR)
	$(VENV_PY) -m pip install --no-deps --target $(IPYW7_DIR) $(IPYW7_PINS)
	touch $@

setup: $(STAMP)

lab: $(STAMP)
	mkdir -p $(ROOT)/notebooks
	cd $(ROOT) && $(VENV)/bin/jupyter lab --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) \
		--ServerApp.root_dir=$(ROOT)/notebooks $(LAB_ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP) $(IPYW7_STAMP)
	cd $(ROOT) && $(TEST_ENV) $(VENV_PY) -m pytest tests $(NBVAL_ARGS) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-ipywidgets7

test-ipywidgets7: $(STAMP) $(IPYW7_STAMP)
	cd $(ROOT) && $(TEST_ENV) OKDDIP_EXPECT_IPYWIDGETS=7.7 PYTHONPATH=$(IPYW7_DIR) \
		$(VENV_PY) -m pytest -p no:cacheprovider $(IPYW7_TESTS)

clean:
	rm -f $(STAMP)
	rm -rf $(ROOT)/.pytest_cache $(ROOT)/.hypothesis $(ROOT)/build $(ROOT)/*.egg-info
	find $(ROOT) -path $(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 \
		| xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(IPYW7_DIR)
