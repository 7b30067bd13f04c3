# `make demo`: set up .venv, train the embedded digits scenario, export it, and run the
# exported models with the runtime: classify sample images, then replay a memory trace.
# `make test`: set up .venv and run every test (Python, then the Android demo's JVM core, then the
# web demo's JS policy port); `make test-web` runs the web demo's tests alone (Chromium included).
# `make web-demo`: serve the browser demo with the export of WORKDIR on localhost.
# `make runtime-wheel`: build the board runtime's wheel (dvn_runtime, no TensorFlow) into dist/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/digits
# Available memory readings: enough for level 2, a squeeze that only level 1 fits, then room again.
TRACE ?= 4MB,4MB,600kB,600kB,4MB,4MB,4MB,4MB
# web-demo: listen on HOST:PORT (HOST=0.0.0.0 to open it from a phone on the same network).
# Two pytest workers (pytest-xdist), one test file each at a time: module fixtures are made once.
PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian's dataset-fashion-mnist: the fashion scenarios prepare tfds's fashion_mnist from it.
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup demo test test-fast fashion-mnist web-deps test-web web-demo runtime-wheel

$(VENV)/installed: requirements.txt export/requirements-qat.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r export/requirements-qat.txt
	touch $@

setup: $(VENV)/installed fashion-mnist

fashion-mnist:
	@if [ ! -f $(FASHION_MNIST) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's dataset-fashion-mnist (Fashion-MNIST's original files)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	  else \
	    echo "note: no $(FASHION_MNIST): run 'sudo apt-get install -y dataset-fashion-mnist' so the fashion scenarios need no download"; \
	  fi; \
	fi

demo: setup
	$(PY) -m dvn_tf.train --workdir=$(WORKDIR)
	$(PY) -m export --workdir=$(WORKDIR)
	$(PY) -m dvn_runtime --models $(WORKDIR)/tflite --task high --image $(WORKDIR)/tflite/samples/high/0[0-2]_*.png
	$(PY) -m dvn_runtime --models $(WORKDIR)/tflite --task low --simulate-memory $(TRACE)

test: setup web-deps
	$(PYTEST) --durations=15
	bash android_demo/run-jvm-tests.sh
	cd web_demo && node --test --test-reporter=dot test/*.test.js

test-fast: setup
	$(PYTEST) -m "not slow" --durations=5

web-deps:
	bash web_demo/setup.sh --browser

test-web: setup web-deps
	cd web_demo && node --test --test-reporter=dot test/*.test.js
	$(PY) -m pytest -q tests/test_web_demo.py

web-demo:
	bash web_demo/setup.sh
	$(PYTHON) web_demo/serve.py $(WORKDIR)/tflite --host $(HOST) --port $(PORT)

runtime-wheel: $(VENV)/installed
	rm -f dist/dvn_runtime-*.whl
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .
	@ls -l dist/dvn_runtime-*.whl
