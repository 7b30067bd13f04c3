# `make demo`: set up .venv and run the main job on the embedded digits data.
# `make test`: set up .venv and run every test (Python, then the Android demo's JVM core).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/digits

.PHONY: setup demo test test-fast

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/installed

demo: setup
	$(PY) -m dvn_tf.train --workdir=$(WORKDIR)

test: setup
	$(PY) -m pytest -q
	bash android_demo/run-jvm-tests.sh

test-fast: setup
	$(PY) -m pytest -q -m "not slow"
