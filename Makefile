# Every install step lives here, so a fresh machine (or CI) needs only `make synth` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export PIPENV_NOSPIN := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1

PIPENV_VERSION := 2026.10.3
NODE_TOOLS := .tools/node
CDKTF := $(NODE_TOOLS)/node_modules/.bin/cdktf
PYTEST_ARGS ?=
PY_SOURCES := main.py constructs_lib lambda loadtest tests
RUFF_FORMAT_ARGS := --line-length 120 --target-version py311
RUFF_ARGS := $(RUFF_FORMAT_ARGS) --select E,F,W,B,UP,SIM,I

.PHONY: setup test-tools mariadb synth preflight test lint lock-loadtest addresses locust-ui bench bench-seed bench-access rehearse report isolation-check loadtest emulate stacks lock approval deploy-state deploy diff destroy destroy-state plan plan-summary emulator emulator-stop

setup: .venv/.synced $(CDKTF)

.venv/.synced: Pipfile.lock
	command -v pipenv >/dev/null || python3 -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	pipenv sync --dev
	touch $@

$(CDKTF): $(NODE_TOOLS)/package.json $(NODE_TOOLS)/package-lock.json
	npm ci --prefix $(NODE_TOOLS) --no-audit --no-fund
	touch $@

CHECKOV_VERSION := 3.3.30

## What the tests need beyond `setup`: a MariaDB server (Debian's package) and checkov (own venv:
## its pinned dependencies would clash with the app's). The rehearsal needs only MariaDB.
test-tools: mariadb .tools/checkov/bin/checkov
.tools/checkov/bin/checkov:
	python3 -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check "checkov==$(CHECKOV_VERSION)"
mariadb:
	@if command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing mariadb-server (Debian package) for the database tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null; \
	else echo "note: mariadb-server is not installed; database tests will skip (outside CI)"; fi

## Synthesize both stacks into cdktf.out/ (no AWS credentials needed). Settings: RDSPROXY_<NAME>=value.
## The settings are checked first, on their own: cdktf's wrapper would print an error twice.
synth: setup
	pipenv run python -m constructs_lib.settings
	pipenv run python -m constructs_lib.workflow.terraform config
	TF_CLI_CONFIG_FILE=$(CURDIR)/.terraform.rc $(CDKTF) synth
	@echo "Terraform JSON: cdktf.out/stacks/state-bootstrap/cdk.tf.json and cdktf.out/stacks/rds-proxy-load-test/cdk.tf.json"

## AWS's documented limits and rules on cdktf.out/ (every synth runs the same gate), with the figures it measured.
preflight: synth
	pipenv run python -m constructs_lib.preflight cdktf.out

## The whole test suite (CI runs exactly this).
test: setup test-tools
	pipenv run python -m pytest -c tests/pytest.ini tests $(PYTEST_ARGS)

## Synth wall time and peak memory, as built versus the standard provider import.
bench: setup
	pipenv run python -m tests.benchmarks.synth_benchmark

## Seeding 200 tenants x 1,000 rows, as built versus one INSERT per row.
bench-seed: setup test-tools
	pipenv run python -m tests.benchmarks.seed_benchmark

## Access latency in both runtimes (Python, Node.js): warm function versus the original per-request design and a bare query.
bench-access: setup mariadb
	pipenv run python -m tests.benchmarks.access_benchmark

## Rehearse the load test locally: MariaDB, seeding, the access function behind a local API, Locust headless.
REHEARSAL_ARGS ?=
rehearse: setup mariadb
	pipenv run python -m loadtest.rehearsal $(REHEARSAL_ARGS)

## Cross-tenant access tried through the access function's code path: locally, or on a deployed stack
## (ISOLATION_ARGS="aws --tenant 100 --other 101"); prints the servers' denials, exit 1 if one was allowed.
isolation-check: setup mariadb
	pipenv run python -m loadtest.tenant_isolation $(ISOLATION_ARGS)

## One run on one page: make report RUN=reports/rehearsal (or an unattended AWS run's downloaded reports;
## the first time, that needs AWS credentials: the CloudWatch metrics of its window are read and kept).
report: setup
	@test -n "$(RUN)" || { echo "make report RUN=<run directory>"; exit 2; }
	pipenv run python -m loadtest.report "$(RUN)" $(REPORT_ARGS)

## An unattended Locust run against a deployed API (run it where the API is reachable, e.g. the primary).
HOST ?=
USERS ?= 1000
SPAWN_RATE ?= 10
RUN_TIME ?= 30m
loadtest: setup
	@test -n "$(HOST)" || { echo "HOST=<api_url output> is required"; exit 2; }
	mkdir -p reports/loadtest
	pipenv run locust -f loadtest/locustfile.py --headless -u $(USERS) -r $(SPAWN_RATE) -t $(RUN_TIME) \
	  --host $(HOST) --csv reports/loadtest/locust --html reports/loadtest/locust.html \
	  --max-failure-ratio 0.01 --max-p95-ms 1000

## Regenerate the hash-locked requirements the Locust instances install (after editing loadtest/requirements.txt).
lock-loadtest: setup
	pipenv run python -m loadtest.lock

## Record resource addresses and attribute digests (after an intended infrastructure change; review the diff).
addresses: setup
	pipenv run python -m tests.support.addresses

## The deployed Locust UI: prints its operator's password and forwards localhost:8089 to it over Session Manager.
locust-ui: setup
	pipenv run python -m loadtest.ui

## ---- deploying: cdktf deploy / diff / destroy, with Terraform's provider source and lock file made here ----
## The same provider source (local mirror, else the registry) and lock file for every command: .terraform.rc
## and .terraform.lock.hcl (`make lock` makes the lock file again). cdktf asks before it changes anything;
## where no one can answer (CI, scripts) pass AUTO_APPROVE=1. More cdktf flags: CDKTF_FLAGS="...".
AUTO_APPROVE ?=
CDKTF_FLAGS ?=
APPROVE := $(if $(filter 1 true yes,$(AUTO_APPROVE)),--auto-approve)
CDKTF_TF := TF_CLI_CONFIG_FILE=$(CURDIR)/.terraform.rc $(CDKTF)
STACK_FLAGS = --skip-synth --skip-provider-lock $(APPROVE) $(CDKTF_FLAGS)

## Synthesize and lock both stacks (what every target below starts from).
stacks: setup
	pipenv run python -m constructs_lib.settings
	pipenv run python -m constructs_lib.workflow.terraform setup
	$(CDKTF_TF) synth
	pipenv run python -m constructs_lib.workflow.terraform install-lock cdktf.out

lock: setup
	pipenv run python -m constructs_lib.workflow.terraform setup --relock

approval:
	@if [ -z "$(APPROVE)" ] && [ ! -t 0 ]; then \
	  echo "error: cdktf asks for approval on a terminal, and this shell has none."; \
	  echo "Run it in a terminal, or approve up front: make $(MAKECMDGOALS) AUTO_APPROVE=1"; exit 2; fi

## Create the state bucket (once per account and region), then the stack; destroy the stack when done.
deploy-state: approval stacks
	$(CDKTF_TF) deploy state-bootstrap $(STACK_FLAGS)

deploy: approval stacks
	$(CDKTF_TF) deploy rds-proxy-load-test $(STACK_FLAGS)

## What a deploy would change now (cdktf diff of the main stack).
diff: stacks
	$(CDKTF_TF) diff rds-proxy-load-test --skip-synth --skip-provider-lock $(CDKTF_FLAGS)

destroy: approval stacks
	$(CDKTF_TF) destroy rds-proxy-load-test $(STACK_FLAGS)

## Last: refuses while the main stack has resources; empties the versioned state bucket once you name it
## (CONFIRM=<bucket>), then destroys the bucket, its settings and the lock table.
CONFIRM ?=
destroy-state: stacks
	pipenv run python -m constructs_lib.workflow.state_teardown --confirm "$(CONFIRM)"
	$(CDKTF_TF) destroy state-bootstrap --skip-synth --skip-provider-lock --auto-approve $(CDKTF_FLAGS)

## Plan every stack for review: plan.json per stack and a summary (cdktf.out/plan-summary.md).
plan: stacks
	pipenv run python -m constructs_lib.workflow.plan cdktf.out

## Summarize plans you made yourself: make plan-summary PLANS="path/to/plan.json ..."
PLANS ?= $(wildcard cdktf.out/stacks/*/plan.json)
plan-summary: setup
	pipenv run python -m constructs_lib.workflow.plan_summary $(PLANS)

## moto's server on 127.0.0.1:$(EMULATOR_PORT) in the background, to deploy to without AWS (README: walk-through).
EMULATOR_PORT ?= 5000
emulator: setup
	pipenv run python -m constructs_lib.workflow.emulator start --port $(EMULATOR_PORT)

emulator-stop: setup
	pipenv run python -m constructs_lib.workflow.emulator stop

## The emulated lifecycle tests: the README walk-through and the growth cycle, against moto on 127.0.0.1.
emulate: setup
	pipenv run python -m pytest -c tests/pytest.ini tests/test_emulated_lifecycle.py -v $(PYTEST_ARGS)

## Lint and format check (the test suite runs the same check).
lint: setup
	pipenv run ruff check $(RUFF_ARGS) $(PY_SOURCES)
	pipenv run ruff format --check $(RUFF_FORMAT_ARGS) $(PY_SOURCES)
