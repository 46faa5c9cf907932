# hl365: make demo | make test | make chaos | make bench | make serve | make lint
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV := $(VENV)/tools/checkov/bin/checkov  # its own venv: its pins clash with the app's

.PHONY: demo test chaos bench serve lint clean browser

demo: $(STAMP)
	$(BIN)/hl365 demo --out out

test: $(STAMP) node_modules/.installed $(CHECKOV) browser
	$(BIN)/python -m pytest

chaos: $(STAMP) node_modules/.installed
	$(BIN)/hl365 chaos --days 10 --erp both --transactions 20000 --kill-workers --out out/chaos

bench: $(STAMP)
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/hl365 serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hl365 needs Python 3.11 or newer; set PYTHON=...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(CHECKOV): | $(STAMP)
	test -x $(VENV)/tools/checkov/bin/python || $(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check checkov==3.3.30

browser:  # Debian's Chromium, for the console's browser tests
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules out .hl365 .pytest_cache .mypy_cache .ruff_cache *.egg-info
