# Two commands for a new user: `make run` and `make test`. Both bootstrap what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: install data lint test test-all run bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch goes in first and exactly pinned: the CPU wheel is local; any other spec pulls CUDA.
$(STAMP): pyproject.toml | $(PY)
	@$(PY) -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null \
	  || $(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(STAMP)

# Debian ships the Fashion-MNIST IDX files; install them when we are root and they are missing.
data:
	@if [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist'"; \
	  fi; \
	fi

lint: install
	$(PY) -m ruff check nas api tests bench
	$(PY) -m ruff format --check nas api tests bench
	$(PY) -m mypy

test: install data lint
	$(PY) -m pytest

# Includes the slow tests.
test-all: install data
	$(PY) -m pytest -m ''

# The server on the embedded defaults (SQLite file, local Ray) with the demo comparison job.
run: install data
	@mkdir -p tmp/ray
	RAY_TMPDIR=$(CURDIR)/tmp/ray $(VENV)/bin/nas serve --executor ray --demo examples/demo.yaml

bench: install data
	$(PY) bench/layers.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
