# cdln-kit: two commands do all the set-up.
#   make lab    set up, then open the notebooks in JupyterLab
#   make test   set up (with the browser-test tools), then run every test
# Set-up is idempotent: a second run costs seconds.

VENV       ?= .venv
PYTHON     ?= python3
PY         := $(VENV)/bin/python
# torch 2.13.0: a CPU build on this project's machines; elsewhere pip may pick a CUDA build,
# so point TORCH_PIP_FLAGS at PyTorch's CPU index if you want it small.
TORCH_SPEC      ?= torch==2.13.0
TORCH_PIP_FLAGS ?=
PORT       ?= 8888

.PHONY: setup lab test test-fast lint bench browser-deps clean

setup: $(VENV)/.cdln-setup

$(VENV)/.cdln-setup: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIP_FLAGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cdln-kit)" >/dev/null
	touch $@

# Jupyter refuses to run as root without --allow-root (containers and CI machines often are root).
lab: setup
	$(VENV)/bin/jupyter lab --port=$(PORT) $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/00_tour.ipynb

# Debian's Chromium for the one real-browser test (never a browser download).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "make: /usr/bin/chromium is missing; install Debian's chromium (sudo apt-get install chromium) for the browser test"; fi; \
	fi

lint: setup
	$(VENV)/bin/ruff check cdln_core tests benchmarks notebooks

# Everything: core, theory claims, CLI, LoRA, nonlinear, every notebook under papermill (both
# INTERACTIVE values), nbval on the claims cells, the widget wiring, and JupyterLab in Chromium.
test: setup browser-deps lint
	$(VENV)/bin/pytest -q tests

# The quick loop while developing: no browser, no notebooks.
test-fast: setup
	$(VENV)/bin/pytest -q tests -m "not browser" --ignore=tests/test_notebooks.py

bench: setup
	$(PY) benchmarks/bench_recovery.py
	$(PY) benchmarks/bench_latency.py
	$(PY) benchmarks/bench_nonlinear.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache
