# LocalRouter — `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/demo.yaml

.PHONY: run test lint fmt schema bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@$(BIN)/localrouter validate $(CONFIG)
	@echo
	@echo "Try a routing decision:"
	@echo "  $(BIN)/localrouter explain --config $(CONFIG) --client demo --prompt 'Refactor this function step by step'"
	@$(BIN)/localrouter explain --config $(CONFIG) --client demo --prompt 'Refactor this function step by step'

lint: $(STAMP)
	$(BIN)/ruff check localrouter tests bench
	$(BIN)/ruff format --check localrouter
	$(BIN)/mypy --strict localrouter

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

fmt: $(STAMP)
	$(BIN)/ruff format localrouter tests bench
	$(BIN)/ruff check --fix localrouter tests bench

schema: $(STAMP)
	$(BIN)/localrouter schema > schemas/localrouter.schema.json

bench: $(STAMP)
	$(BIN)/python bench/compile_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
