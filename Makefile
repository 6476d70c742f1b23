# Kumo: `make up` runs the all-in-one cloud, `make down` removes what it made on this
# machine, `make test` runs every test.
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Three workers on two cores, `--dist worksteal`: tests are shared out and a worker that
# runs out takes half of the busiest one's queue, so the long data-plane tests at the
# end of the collection do not end the run on one worker while the others idle
# (`--dist load` made the same suite 24 min instead of 20). Each worker starts its own
# API server per database when it first needs one; data-plane tests run beside each
# other (each on its own simulated machine, its kernel objects named with its own tag).
# Most of the time is spent waiting on servers and agents, not on the CPU. (This used
# `--dist loadgroup` with xdist_group marks, meant to keep one server per database and
# one data-plane test at a time; pytest 9.2 silently ignores such groups, pytest-xdist
# issue #1386, so the suite never ran that way.)
PYTEST_WORKERS ?= 3
# extra arguments: make up ARGS=--reset, make down ARGS=--purge
ARGS    ?=

.PHONY: up reset down test system-deps postgres bench clean tempest

# What `kumo up` needs: the runtime Debian packages and Kumo (with the openstack CLI).
$(STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	@echo "kumo: creating the virtualenv $(VENV) and installing Kumo and the openstack CLI (about a minute)..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	@rm -f $(TEST_STAMP)
	touch $(STAMP)

# What the tests need on top: PostgreSQL and iperf3, pytest and the test clients.
$(TEST_STAMP): $(STAMP)
	bash scripts/install-system-deps.sh --test
	@echo "kumo: installing the test dependencies into $(VENV)..."
	$(VENV)/bin/pip install -q -e '.[test,postgresql]'
	touch $(TEST_STAMP)

system-deps:
	bash scripts/install-system-deps.sh

up: $(STAMP)
	@bash scripts/link-openstack.sh $(VENV)
	$(VENV)/bin/kumo up $(ARGS)

reset: $(STAMP)
	@bash scripts/link-openstack.sh $(VENV)
	$(VENV)/bin/kumo up --reset $(ARGS)

down: $(STAMP)
	$(VENV)/bin/kumo down $(ARGS)

postgres: $(TEST_STAMP)
	bash scripts/postgres.sh

# PostgreSQL is stopped again afterwards (pass or fail) if this started it.
test: $(TEST_STAMP)
	KUMO_PG_REMEMBER=1 bash scripts/postgres.sh
	@trap 'bash scripts/postgres.sh --stop' EXIT INT TERM; \
	  KUMO_TEST_PG_URL=$$(bash scripts/postgres.sh --url) \
	  $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist worksteal -q tests

# The interop guideline's required Tempest tests against a fresh `kumo up` (not part of
# `make test`): make tempest [TEMPEST_LIST=file|none] [TEMPEST_FILTER=regex] [ARGS=...]
tempest: $(STAMP)
	KUMO=$(VENV)/bin/kumo ARGS="$(ARGS)" bash scripts/tempest.sh

bench: $(TEST_STAMP)
	$(VENV)/bin/python benchmarks/identity.py

# Only the virtualenv and build files (and the openstack link into it): servers, the
# data plane and the state stay. Run `make down` (ARGS=--purge) first to remove those.
clean:
	@bash scripts/link-openstack.sh --remove $(VENV)
	rm -rf $(VENV) build *.egg-info
	@echo "kumo: servers, the data plane and the state were left alone: make down [ARGS=--purge] removes them"
