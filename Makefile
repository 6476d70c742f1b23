# Kumo: `make up` runs the all-in-one cloud, `make test` runs every test.
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: up test system-deps postgres bench clean

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

up: $(STAMP)
	$(VENV)/bin/kumo up

postgres: $(STAMP)
	bash scripts/postgres.sh

test: $(STAMP)
	bash scripts/postgres.sh
	KUMO_TEST_PG_URL=$$(bash scripts/postgres.sh --url) \
	  $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q tests

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/identity.py

clean:
	rm -rf $(VENV) build *.egg-info
