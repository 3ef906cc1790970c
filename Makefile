# The README's two commands are `make run` and `make test`. `run` installs the runtime lock
# only; `test` (and `check`) the development lock, a superset with the same pins. Each builds
# .venv first when it is missing or older than its lock.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-from-runtime-lock
DEV := $(VENV)/.installed-from-dev-lock
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test check lint format typecheck pytest lock clean

run: $(RUNTIME)
	$(BIN)/imagehub serve

test: check pytest

check: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: $(DEV)
	$(BIN)/pytest $(PYTEST_ARGS)

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "imagehub needs Python 3.11, 3.12 or 3.13 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): requirements.lock pyproject.toml | $(VENV)/bin/python
	$(PIP) --require-hashes --no-deps -r requirements.lock
	$(PIP) --no-deps --no-build-isolation --editable .
	touch $@

# The development lock holds every runtime pin, so a venv built from it serves `run` too.
$(DEV): requirements-dev.lock pyproject.toml | $(VENV)/bin/python
	$(PIP) --require-hashes --no-deps -r requirements-dev.lock
	$(PIP) --no-deps --no-build-isolation --editable .
	touch $@ $(RUNTIME)

# Re-pin every dependency (needs `uv`: pip install uv). The development lock is resolved
# first and the runtime lock within it, so both hold the same versions; the runtime lock
# also holds the build backend, for the editable install of the project. Commit both.
UV_COMPILE := uv pip compile --universal --python-version 3.11 --generate-hashes
lock:
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements-dev.lock
	echo "hatchling>=1.27" | $(UV_COMPILE) pyproject.toml - -c requirements-dev.lock \
		-o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
