# Two commands matter: `make demo` (set up, start, create a demo tenant) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test unit e2e bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system.sh
	./scripts/install-system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/zenmail demo

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

unit: install
	$(BIN)/python -m pytest -q tests/unit

e2e: install
	$(BIN)/python -m pytest -q tests/e2e

bench: install
	$(BIN)/python bench/directory.py
	$(BIN)/python bench/delivery.py

lint: install
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) .zenmail build *.egg-info src/*.egg-info
