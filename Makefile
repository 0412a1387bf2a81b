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

# The linter and the type checker first: strict typing where the rules and the daemons live.
LINT = $(BIN)/ruff check src tests bench && $(BIN)/mypy src/zenmail && \
       $(BIN)/mypy --strict src/zenmail/directory src/zenmail/stack src/zenmail/config.py

# Two workers, a test module each at a time (its stacks are module fixtures); the e2e
# modules spend most of their time waiting on daemons, so they overlap well on 2 cores.
test: install
	$(LINT)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

unit: install
	$(BIN)/python -m pytest -q tests/unit

e2e: install
	$(BIN)/python -m pytest -q tests/e2e

bench: install
	$(BIN)/python bench/directory.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/imap.py
	$(BIN)/python bench/filtering.py
	$(BIN)/python bench/probe.py
	$(BIN)/python bench/vault.py
	$(BIN)/python bench/vault_size.py --no-19
	$(BIN)/python bench/dav.py
	$(BIN)/python bench/eco.py
	$(BIN)/python bench/migration.py

lint: install
	$(LINT)

clean:
	rm -rf $(VENV) .zenmail build *.egg-info src/*.egg-info
