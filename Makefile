# The two commands a newcomer needs: `make demo` and `make test`. Each creates .venv and installs from
# pyproject.toml first, so a fresh machine needs nothing but Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench schemas lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dispatch-bridge demo

test: $(STAMP)
	bash scripts/ensure-test-tools.sh
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

schemas: $(STAMP)
	$(BIN)/python -m dispatch_bridge.contracts
	$(BIN)/python deploy/k8s/render_rules_configmap.py

lint: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
