# Two commands for a new user: `make run` and `make test`. Both bootstrap what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist
UPLOT_VERSION := 1.6.32
UPLOT_DIR := api/static/vendor/uplot-$(UPLOT_VERSION)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: install data browser vendor lint test test-all run bench clean

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

# Debian's Chromium for the browser tests (Playwright drives it and never downloads a browser);
# installed when we are root and it is missing. Without it the browser tests skip (fail under CI).
browser:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install chromium chromium-driver'"; \
	  fi; \
	fi

# Reproduces api/static/vendor/ (committed, so the pages work offline): the leaderboard's charting
# library at its exact version from the npm registry (npm checks the tarball's integrity).
vendor:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && tar xzf uplot-$(UPLOT_VERSION).tgz) && \
	  rm -rf $(UPLOT_DIR) && mkdir -p $(UPLOT_DIR) && \
	  cp "$$tmp"/package/dist/uPlot.iife.min.js "$$tmp"/package/dist/uPlot.min.css "$$tmp"/package/LICENSE $(UPLOT_DIR)/ && \
	  echo "vendored uplot $(UPLOT_VERSION) into $(UPLOT_DIR)"

lint: install
	$(PY) -m ruff check nas api workers tests bench scripts
	$(PY) -m ruff format --check nas api workers tests bench scripts
	$(PY) -m mypy

# One pytest-xdist worker per core (each with its share of torch threads: tests/conftest.py);
# PYTEST_WORKERS=0 runs the suite in this one process.
PYTEST_WORKERS ?= logical
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist worksteal

test: install data browser lint
	$(PY) -m pytest $(PYTEST_PARALLEL) --durations=15

# Includes the slow tests.
test-all: install data browser
	$(PY) -m pytest $(PYTEST_PARALLEL) -m ''

# The server on the embedded defaults (SQLite file, local Ray) with the demo comparison job.
run: install data
	@mkdir -p tmp/ray
	RAY_TMPDIR=$(CURDIR)/tmp/ray $(VENV)/bin/nas serve --executor ray --demo examples/demo.yaml

# Every benchmark, one after another (hours on 2 CPUs); each rewrites its docs/results.md section.
BENCHES := layers strategies robustness blocks scaling engine service leaderboard reliability
bench: install data browser
	@mkdir -p tmp/ray
	@for b in $(BENCHES); do echo "== bench/$$b.py"; RAY_TMPDIR=$(CURDIR)/tmp/ray $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
