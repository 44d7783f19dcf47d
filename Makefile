# `make local` and `make test` bootstrap the virtualenv Pulumi.yaml names (venv/) on first use.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python

.PHONY: local test bench clean image-envs lint typecheck

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Each SageMaker XGBoost image's Python environment (runner/emulator/image_environments.py): made once, from its pins.
IMAGE_ENVS := .image-envs
DEFAULT_IMAGE := 3.2-0
ALL_IMAGES := 3.2-0 3.0-5 1.7-1
$(IMAGE_ENVS)/%/.ready: runner/container/requirements/%.txt | $(VENV)/.installed
	$(PY) -m runner.emulator.image_environments $*

image-envs: $(foreach v,$(ALL_IMAGES),$(IMAGE_ENVS)/$(v)/.ready)

local: $(VENV)/.installed $(IMAGE_ENVS)/$(DEFAULT_IMAGE)/.ready
	$(PY) run.py --local

test: $(VENV)/.installed image-envs
	$(PY) -m pytest -q

# Lint and format (ruff, settings in pyproject.toml); CI runs it before the tests.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The type checker over components/, lambda_src/ and runner/ (pyproject.toml); not yet clean: see CONTRIBUTING.md.
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

bench: $(VENV)/.installed $(IMAGE_ENVS)/$(DEFAULT_IMAGE)/.ready
	$(PY) bench/run.py

# Caches only: runs/ holds every downloaded result (paid AWS runs too); delete it by hand if you mean to.
clean:
	rm -rf .pytest_cache .hypothesis
	@# .image-envs/ (the images' environments) stays: `rm -rf .image-envs` to make them anew.
	find . -path ./venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
