# Two entry points for a fresh machine (see README):
#   make demo   - set up and run the main job (simulation: DeSurv vs NMF)
#   make test   - set up (R included where we are root) and run the test suite
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python

.PHONY: setup setup-r demo test lint bench

$(VPY):
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q -U pip

setup: $(VPY)
	$(VPY) -m pip install -q -e '.[test,dask]'

# R and rpy2 (optional): Debian packages when we can install them, then the pinned rpy2.
setup-r: setup
	bash .ci/install_r.sh $(VPY)

demo: setup
	$(VPY) -m desurv demo --seed 0 --n-jobs 2

test: setup-r
	$(VPY) -m ruff check desurv r_bridge data_registry tests benchmarks docs
	$(VPY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VPY) -m ruff check desurv r_bridge data_registry tests benchmarks docs

bench: setup
	$(VPY) benchmarks/bench_fit.py
