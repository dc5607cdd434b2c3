# The README's quick start, as make targets. `make test` is also what .ci/run runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test

demo: $(STAMP)
	$(BIN)/rsa-ray demo

test: $(STAMP)
	$(BIN)/python -m pytest

# torch is installed first, pinned to the CPU build that this machine keeps on local disk;
# a plain `torch` requirement could otherwise pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)
