# Every target installs what it needs: a fresh clone needs only Python 3.11+ and the package index.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test test-sqlite test-postgres test-long test-long-sqlite test-long-postgres lint demo bench emulator clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The suite twice, side by side on the two cores: on SQLite, and on PostgreSQL
# (tests/postgres_server.py starts a throwaway server). No cache: two pytests share it.
test: $(STAMP)
	$(MAKE) --no-print-directory -j2 test-sqlite test-postgres

test-sqlite: $(STAMP)
	$(BIN)/python -m pytest -q -m "not long" -p no:cacheprovider

test-postgres: $(STAMP)
	SQSYNC_TEST_BACKEND=postgres $(BIN)/python -m pytest -q -m "not long" -p no:cacheprovider

# Everything, the long crash and fault trials included, on both backends.
test-long: $(STAMP)
	$(MAKE) --no-print-directory -j2 test-long-sqlite test-long-postgres

test-long-sqlite: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-long-postgres: $(STAMP)
	SQSYNC_TEST_BACKEND=postgres $(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

# The whole loop against a local emulator: no network, no Squarespace account.
demo: $(STAMP)
	$(BIN)/python -m sqsync.demo

# Bytecode compiled first, as pip does when it installs a wheel: an editable install under
# PYTHONDONTWRITEBYTECODE (as on this project's CI machines) would otherwise compile every
# module of sqsync at each start, about 0.1 s of every timed command.
bench: $(STAMP)
	$(BIN)/python -m compileall -q src >/dev/null
	$(BIN)/python bench/run.py

emulator: $(STAMP)
	$(BIN)/sqsync emulator --orders 200 --variants 60 --seed 1

clean:
	rm -rf $(VENV) .pytest_cache build dist
