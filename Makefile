# The two commands a newcomer needs: `make up` and `make test`; `make help` lists the others.
# See README.md.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
SERVICES := registration followup complaints notifications metrics
# configured by environment variables (docs/configuration.md): the services and the console
CONFIGURED := $(SERVICES) console

.PHONY: help setup packages up down status test test-unit lint format docs bench bench-rss bench-scaling chaos fuzz mutate backup restore

help:  ## this list: every target and what it does
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | \
		awk -F '\t' '{ printf "  make %-14s %s\n", $$1, $$2 }'

# Compiled to bytecode once here: where PYTHONDONTWRITEBYTECODE is set (the development machine)
# nothing is cached at import, and every process compiled FastAPI, pydantic and the rest
# again: a service took 4.6 s to import, 2.3 s compiled (docs/bench.md, session 25).
setup:  ## install uv (from PyPI) when missing, then the whole workspace
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --quiet --compile-bytecode
	@$(UV) run python -m compileall -q -j 0 shared services tools

up: setup  ## bring the whole system up (Kafka, PostgreSQL, Kannel, Prometheus, five services)
	@$(UV) run devstack up

down:  ## stop everything `make up` started
	@$(UV) run devstack down

status:  ## what runs, with its address
	@$(UV) run devstack status

backup: setup  ## a checked pg_dump of the database with the Kafka offsets (README: Backup and restore)
	@$(UV) run python -m devstack.backup take $(if $(DIR),--dir $(DIR)) $(if $(KEEP),--keep $(KEEP))

restore: setup  ## the stopped stack back to BACKUP=<folder> (default: the newest; ACCEPT_LOSS=1: past retention); then `make up`
	@$(UV) run python -m devstack.backup restore $(BACKUP) $(if $(DIR),--dir $(DIR)) $(if $(ACCEPT_LOSS),--accept-loss)

packages: setup  ## Debian packages the stack and tests need (PostgreSQL, Kannel, Prometheus/promtool)
	@$(UV) run python -c "from devstack.system import ensure_packages; ensure_packages()"

# Two pytest processes side by side, each on a test stack of its own (ports + the offset,
# DEVSTACK_TEST_PORT_OFFSET or 10000, and + 1,500 more; state in `.stack-test*`): the tests
# of tests/integration in one, every other test in the other, whose report follows (by
# --deselect: --ignore does not take a folder out of `testpaths`). One run of the stack tests
# left about a core idle while they waited on services (docs/bench.md, session 25). The
# slowest files of tests/integration (INTEGRATION_BESIDE) run in the other process, so that both
# end at about the same time: tests/integration alone took 21 minutes, the rest 15.
INTEGRATION_BESIDE := tests/integration/test_alerts_reach_staff.py \
	tests/integration/test_opt_outs_survive_restore.py
INTEGRATION_HERE := $(filter-out $(INTEGRATION_BESIDE),$(sort $(wildcard tests/integration/test_*.py)))
TEST_OFFSET := $(or $(DEVSTACK_TEST_PORT_OFFSET),10000)
BESIDE_LOG := test-artifacts/tests-beside.log
test: setup lint packages  ## the full suite, against the real stack (started on its own ports)
	@mkdir -p test-artifacts; \
	DEVSTACK_TEST_PORT_OFFSET=$$(( $(TEST_OFFSET) + 1500 )) REQUIRE_PROMTOOL=1 \
		$(UV) run pytest -q $(addprefix --deselect ,$(INTEGRATION_HERE)) -p no:cacheprovider > $(BESIDE_LOG) 2>&1 & beside=$$!; \
	trap 'kill $$beside 2>/dev/null' INT TERM; \
	DEVSTACK_TEST_PORT_OFFSET=$(TEST_OFFSET) REQUIRE_PROMTOOL=1 $(UV) run pytest -q $(INTEGRATION_HERE); main_rc=$$?; \
	wait $$beside; beside_rc=$$?; \
	echo; echo "=== every other test, on the second test stack, run beside ==="; \
	cat $(BESIDE_LOG); \
	echo "tests/integration: exit $$main_rc; the other tests: exit $$beside_rc"; \
	test $$main_rc -eq 0 -a $$beside_rc -eq 0

test-unit: setup  ## the tests that need no stack
	@$(UV) run pytest -q -m "not stack"

lint: setup  ## ruff and mypy
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run mypy

format: setup  ## ruff format and ruff check --fix
	@$(UV) run ruff format .
	@$(UV) run ruff check --fix .

docs: setup  ## regenerate docs/events (JSON Schemas), docs/asyncapi and docs/configuration.md
	@$(UV) run python -m hospital_shared.schemas
	@$(UV) run python -m hospital_shared.asyncapi_export $(SERVICES)
	@$(UV) run python -m hospital_shared.config_docs $(CONFIGURED)

bench: setup  ## drain vs raw baseline, latency, memory, scaling; then the registration gateway
	@$(UV) run python -m bench.run
	@$(UV) run python bench/registration_ingest.py
	@$(UV) run python bench/registration_raw.py

bench-scaling: setup  ## follow-up and notifications with 1, 2 and 3 instances on three brokers, with CPU use
	@$(UV) run python -m bench.scaling

bench-rss: setup  ## resident memory of every consuming service through a 200,000-event drain
	@$(UV) run python -m bench.rss

chaos: setup  ## the full fault-injection run (the short one is part of `make test`)
	@# then the three-broker case, on the test stack restarted with three brokers (run even
	@# when the first part failed; the target fails when either did)
	@CHAOS_FULL=1 $(UV) run pytest -q -s tests/chaos -k full; first=$$?; \
	CHAOS_FULL=1 DEVSTACK_KAFKA_BROKERS=3 $(UV) run pytest -q -s tests/chaos -k cluster; \
	second=$$?; exit $$(( first || second ))

fuzz: setup  ## schemathesis against every service's API, longer than in `make test` (FUZZ_EXAMPLES, default 100)
	@FUZZ_FULL=1 $(UV) run pytest -q tests/fuzz

mutate: setup  ## mutation score of the pure rules (slow; MODULES=complaints/policy for some)
	@nice -n 10 $(UV) run python tools/mutation/run.py $(MODULES)
