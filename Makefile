# The two commands of the README, and a few for development. Everything runs from .venv, which
# the first command creates (Python 3.11 or newer) and installs with the dev extra, pinned by
# constraints.txt; it reinstalls when pyproject.toml or constraints.txt change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install lint format constraints

run: install
	PORT=$(PORT) bin/dev

test: install
	$(BIN)/pytest --create-db $(PYTEST_ARGS)

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed: install python3.11 or python3." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); 3.11 or newer is needed (make PYTHON=/path/to/python3.x)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Re-pin constraints.txt after a change of dependencies in pyproject.toml: resolve them afresh in
# a throw-away environment, then `make install` installs the new pins.
constraints:
	rm -rf $(VENV)-constraints
	$(PYTHON) -m venv $(VENV)-constraints
	$(VENV)-constraints/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# Pinned versions for reproducible installs; regenerate with make constraints."; \
	  $(VENV)-constraints/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf $(VENV)-constraints
