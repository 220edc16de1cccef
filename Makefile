# The two fresh-machine commands: `make demo` and `make test`. Both create the venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,kafka

# torch is pinned (pyproject.toml) to a version whose PyPI wheel for Linux pulls several GB
# of CUDA libraries. So the CPU build comes first, from PyTorch's CPU index, and the
# install below finds the pin satisfied. A machine whose pip already has a CPU wheel of
# the pin in a local wheelhouse (its find-links, as on the CI machine) uses that one and
# asks no index; `make install TORCH_INDEX=` skips the step too (e.g. for a CUDA machine).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN = $(shell sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml)
FIND_LINKS = $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
LOCAL_TORCH = $(firstword $(foreach d,$(FIND_LINKS),$(wildcard $(d)/$(subst ==,-,$(TORCH_PIN))+cpu-*.whl)))

.PHONY: install demo test lint bench-upload clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(if $(and $(TORCH_INDEX),$(if $(LOCAL_TORCH),,cpu)),$(BIN)/pip install -q "$(TORCH_PIN)" --index-url $(TORCH_INDEX))
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
