# `make local` and `make test` bootstrap the virtualenv Pulumi.yaml names (venv/) on first use.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python

.PHONY: local test bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# xgboost-cpu (before the 1.7.4 pin) and xgboost share one package directory: never both.
	$(PY) -m pip uninstall --quiet --yes xgboost-cpu 2>/dev/null || true
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

local: $(VENV)/.installed
	$(PY) run.py --local

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/run.py

# Caches only: runs/ holds every downloaded result (paid AWS runs too); delete it by hand if you mean to.
clean:
	rm -rf .pytest_cache .hypothesis
	find . -path ./venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
