# The two commands a newcomer needs: `make demo` and `make test`.
# Each builds .venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Jupyter and IPython keep their state inside the project, never in $HOME.
export JUPYTER_CONFIG_DIR  := $(CURDIR)/.jupyter/config
export JUPYTER_DATA_DIR    := $(CURDIR)/.jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/.jupyter/runtime
export IPYTHONDIR          := $(CURDIR)/.jupyter/ipython
export MPLCONFIGDIR        := $(CURDIR)/.jupyter/matplotlib
export MPLBACKEND          := Agg
# nbgrader runs alembic by name when it makes a gradebook.
export PATH                := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test test-slow test-browser bench lab tour release check venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@mkdir -p $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(IPYTHONDIR) $(MPLCONFIGDIR)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (backprop course)" >/dev/null
	@touch $(STAMP)

# The main job: regenerate the student versions, grade the bundled demo class, print the gradebook.
demo: $(STAMP)
	$(BIN)/bpcourse demo

# The reference package at work: gradient checks, training on two moons, checkpointing.
tour: $(STAMP)
	$(BIN)/python -m backprop.demo

release: $(STAMP)
	$(BIN)/bpcourse release

check: $(STAMP)
	$(BIN)/bpcourse check

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The suites that grade for minutes (a class of 200, the catalogue in a jail): CI runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Every chapter in JupyterLab in headless Chromium (Debian's package, installed with apt when missing
# and running as root). Screenshots go to out/browser/.
BROWSER_STAMP := $(VENV)/.browser-installed

$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,browser]'
	@touch $@

test-browser: $(BROWSER_STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$CHROMIUM" ] || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "error: Chromium not found: install it (Debian: sudo apt-get install chromium) or set CHROMIUM=/path/to/it"; exit 1; \
	  fi
	$(BIN)/python -m pytest -q tests/browser -o addopts="-ra --strict-markers"

# Speed and memory of the package, then grading throughput against plain nbgrader (about 15 minutes).
bench: $(STAMP)
	$(BIN)/python -m backprop.bench
	$(BIN)/python -m autograder.pipeline.bench

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=release --ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root,)

clean:
	rm -rf $(VENV) .jupyter .pytest_cache .hypothesis out build *.egg-info autograded feedback gradebook.db grades.csv
