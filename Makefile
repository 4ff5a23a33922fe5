# mailgate: `make run` starts the service; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test chaos lint venv system-packages clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

run: venv
	$(BIN)/mailgate init
	$(BIN)/mailgate serve

system-packages:
	@scripts/system-packages.sh

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two pytest processes (pytest-xdist), each starting its own servers on free ports: on
# 2 cores the suite took 8 min this way against 14-16 min in one. TEST_WORKERS=0: one.
TEST_WORKERS ?= 2

test: venv system-packages lint
	$(BIN)/pytest -p no:cacheprovider $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS))

# Minutes of SIGKILLs on SQLite and PostgreSQL (tests/test_chaos.py); not part of `make test`.
chaos: venv system-packages
	$(BIN)/pytest -p no:cacheprovider -m chaos tests/test_chaos.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
