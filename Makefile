# Two commands matter: `make demo` (the stack on the embedded default) and `make test`.
# Everything installs into .venv in this folder; nothing is installed globally.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := setup

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# molecule and the playbooks call ansible-playbook and friends by name.
export PATH := $(BIN):$(PATH)
STAMP := $(VENV)/.installed
# The app's runtime and test requirements join the controller's once they exist.
REQUIREMENTS := requirements.txt $(wildcard app/api/requirements.txt tests/app/requirements.txt)
EMULATOR := $(BIN)/python embedded/emulator.py
# Points ansible-playbook at the embedded default (see `make local-env`).
WITH_LOCAL_ENV := eval "$$($(EMULATOR) env)" &&

.PHONY: docs setup prerequisites demo destroy local-env unset-local-env emulator-start emulator-stop host-images \
	test test-cold test-unit lint test-python test-collection test-roles test-stack test-readme test-waits bench help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv and install the pinned tools into it

$(STAMP): $(REQUIREMENTS)
	@# Progress goes to stderr so that `eval "$$(make -s local-env)"` reads only the exports.
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >&2
	@echo "installing the pinned tools into $(VENV)" >&2
	@$(BIN)/pip install --quiet --upgrade pip >&2
	@$(BIN)/pip install --quiet $(addprefix -r ,$(REQUIREMENTS)) >&2
	@touch $@

prerequisites: ## Install what the embedded default needs (root on Debian/Ubuntu), else list it
	@embedded/prerequisites.sh

host-images: prerequisites ## Build the local EC2 host image and the app's base images, offline
	@tests/images/build.sh $(KIT_ARGS)

emulator-start: prerequisites setup host-images ## Start the local AWS emulator; its instances become host containers
	@$(EMULATOR) start --hosts >&2

emulator-stop: ## Stop the local AWS emulator (it forgets everything)
	@if [ -x $(BIN)/python ]; then $(EMULATOR) stop; fi

demo: emulator-start ## Run site.yml against the embedded default and print a summary
	$(WITH_LOCAL_ENV) $(BIN)/ansible-playbook site.yml

destroy: setup ## Run teardown.yml against the embedded default, then stop it
	@if $(EMULATOR) status >/dev/null 2>&1; then \
	  $(WITH_LOCAL_ENV) $(BIN)/ansible-playbook teardown.yml embedded/playbooks/host_leftovers.yml; \
	else echo "emulator not running: nothing to tear down"; fi
	@$(EMULATOR) stop

local-env: emulator-start ## Print the exports for plain ansible-playbook runs: eval "$(make -s local-env)"
	@$(EMULATOR) env

unset-local-env: ## Print the unsets that take this shell back to AWS: eval "$(make -s unset-local-env)"
	@$(PYTHON) embedded/emulator.py unset-env

docs: setup ## Write docs/roles.md from the roles' argument specs
	$(BIN)/python docs/role_docs.py

lint: setup ## yamllint, ansible-lint (production profile), ruff and the deployer policy (parliament)
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python iam/lint_policy.py

# pytest-xdist: one worker per CPU (TEST_WORKERS=1 for one at a time). Each worker starts its own
# emulator on a free port; tests/conftest.py says which files share one worker (fixed ports,
# one costly fixture).
TEST_WORKERS ?= auto
PYTEST_PARALLEL := $(BIN)/pytest --numprocesses=$(TEST_WORKERS) --dist=load
# What needs neither the image kit, Docker, PostgreSQL nor a browser: seconds to a few minutes.
FAST_LANE := tests/unit tests/validate tests/embedded tests/bench $(wildcard tests/test_*.py)

# tests/unit runs once in `make test`: in test-collection, by `ansible-test units` (the collection's
# own runner, on the collection as built, pytest-xdist on every CPU); test-unit runs it with pytest.
# --durations: the slowest tests close the log, where the suite's time goes (issue 17).
test-python: setup host-images ## pytest but tests/unit (test-collection runs it) and test-waits: the playbooks on the emulator (with a host for the resilience tests), the app
	$(PYTEST_PARALLEL) --durations=30 --ignore=tests/unit -m "not waits"

test-waits: setup host-images ## The tests that mostly wait (marked waits: a new host's apt jobs), one at a time
	$(BIN)/pytest --durations=5 --ignore=tests/unit -m waits

test-unit: setup ## The fast lane: modules, filters, validation, the emulator, docs; no image kit or Docker
	$(PYTEST_PARALLEL) -m "not slow" $(FAST_LANE)

test-collection: setup ## ansible-test sanity, and units (tests/unit), on the collection taskstack.aws as built (no Docker)
	tests/tools/ansible-test.sh sanity units

# One scenario runs one converge at a time, each on a host container of its own name; each
# one's output is printed when it ends (-O). Three run at once, the one that waits most
# (package_lists' verify holds apt's locks for seconds at a time) first, then the longest; the
# shortest follows package_lists.
ROLE_SCENARIOS := $(addprefix role-scenario-,package_lists app_deploy docker_engine host_hardening)
test-roles: setup host-images ## Molecule: each host role alone on the test host image
	@$(MAKE) --no-print-directory -j3 -O $(ROLE_SCENARIOS)

.PHONY: $(ROLE_SCENARIOS)
$(ROLE_SCENARIOS): role-scenario-%:
	cd roles/$* && MOLECULE_HOST_NAME=role-host-$(subst _,-,$*) $(BIN)/molecule test

test-stack: setup host-images ## Molecule: the whole site.yml and teardown.yml on the embedded default
	$(BIN)/molecule test

test-readme: setup host-images ## README's first command in a clean clone: make demo, then make destroy
	$(BIN)/pytest tests/readme -p no:cacheprovider

# Each stage is a sub-make, timed; the table at the end gives every stage's wall time. The README's
# own commands come first after the kit, while its images are minutes old. A target that runs one
# converge or one lint at a time leaves a CPU mostly idle (a sampler of /proc/stat's counters in
# `.ci/run`: 45-75 % busy while one of them ran alone), so they run side by side (" + "): lint and
# ansible-test (no Docker) beside the kit's build; the README's commands, the whole-stack scenario,
# the role scenarios (three at a time, test-roles) and the tests that mostly wait (test-waits)
# together, each on its own ports and container names. test-python keeps both CPUs to itself
# (tests/test_pytest_collection.py: with test-waits, it runs every test once): beside the converge
# stage too, as one stage, it took 1854 s against 331 + 1296 s one after the other, and the
# first-boot test failed (2026-12-06). In `.ci/run` (2026-12-04) the two stages took 169 + 292 s,
# against 123 + 357 + 181 s as three pairs (lint + kit, readme + roles one at a time, stack +
# ansible-test) on 8e19192; on 2026-12-06, 220 + 310 s with the role scenarios under Mitogen. One
# kit build runs at a time (build.sh).
SUITE := "test-readme + test-stack + test-roles + test-waits" test-python
test: ## The whole suite, reusing the image kit when it is up to date (day-to-day runs)
	@tests/tools/stages.sh prerequisites setup "lint + test-collection + host-images" $(SUITE)

test-cold: ## The whole suite from nothing, as CI runs it: the image kit rebuilt first (--force)
	@tests/tools/stages.sh prerequisites setup "lint + test-collection + host-images KIT_ARGS=--force" $(SUITE)

bench: setup host-images ## Benchmark the stack on its own ports (bench/README.md); BENCH_ARGS=--quick for a quick look
	$(BIN)/python bench/stack_bench.py $(BENCH_ARGS)
