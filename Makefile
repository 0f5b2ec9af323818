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
	$(VPY) -m pip install -q -e '.[test,dask,scanpy,docs]'

# R and rpy2 (optional): Debian packages when we can install them, then the pinned rpy2.
setup-r: setup
	bash .ci/install_r.sh $(VPY)

demo: setup
	$(VPY) -m desurv demo --seed 0 --n-jobs 2

# the vignette tests run every vignette in fast mode into docs/_generated/vignettes, which the
# documentation build after them renders (warnings are errors)
VIGNETTE_OUT := $(CURDIR)/docs/_generated/vignettes

test: setup-r
	$(VPY) -m ruff check desurv r_bridge data_registry tests benchmarks docs vignettes
	DESURV_VIGNETTE_OUT=$(VIGNETTE_OUT) $(VPY) -m pytest -q -p no:cacheprovider
	DESURV_VIGNETTE_OUT=$(VIGNETTE_OUT) $(VPY) -m mkdocs build --strict -q -d site

lint: setup
	$(VPY) -m ruff check desurv r_bridge data_registry tests benchmarks docs vignettes

bench: setup
	$(VPY) benchmarks/bench_fit.py

# The documentation site (mkdocs.yml; warnings are errors) into site/.
.PHONY: docs
docs: setup
	$(VPY) -m mkdocs build --strict -d site
