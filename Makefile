# The two fresh-machine commands: `make demo` and `make test`. Both create the venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,kafka

.PHONY: install demo test lint bench-upload clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $@

demo: install
	$(BIN)/millrace demo

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# The chaos tests (SIGKILLs, a broker outage; about 6 min) run after the rest, on their own.
test: lint
	$(BIN)/pytest -m "not chaos"
	$(BIN)/pytest -m chaos

bench-upload: install
	$(BIN)/python benchmarks/upload.py

clean:
	rm -rf $(VENV) .millrace .pytest_cache .ruff_cache
