# The README's two commands are `make demo` and `make test`. Each creates .venv and installs the
# package (editable) with what it needs, so both work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The exact torch (the CPU build) is this repository's choice, not the package's: the `local`
	# extra has a lower bound only. Installing it first keeps pip from resolving a multi-GB CUDA
	# build. No --quiet: the first install takes minutes, and pip's progress shows it is alive.
	@echo "installing torch (CPU build) and the package with its extras into $(VENV): a few minutes the first time"
	$(BIN)/python -m pip install --progress-bar on "torch==2.13.0"
	$(BIN)/python -m pip install --progress-bar on -e ".[embedded,local,openai,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .memory .pytest_cache .mypy_cache .ruff_cache
