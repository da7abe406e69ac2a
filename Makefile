# Every install step lives here, so a fresh machine (or CI) needs only `make synth` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_VERBOSITY := -1
export PIPENV_NOSPIN := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1

PIPENV_VERSION := 2026.10.3
CDKTF_DIR := .tools/cdktf-cli
CDKTF := $(CDKTF_DIR)/node_modules/.bin/cdktf
PYTEST_ARGS ?=

.PHONY: setup synth test bench deploy-state deploy destroy

setup: .venv/.synced $(CDKTF)

.venv/.synced: Pipfile.lock
	command -v pipenv >/dev/null || python3 -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	pipenv sync --dev
	touch $@

$(CDKTF): $(CDKTF_DIR)/package.json $(CDKTF_DIR)/package-lock.json
	npm ci --prefix $(CDKTF_DIR) --no-audit --no-fund
	touch $@

## Synthesize both stacks into cdktf.out/ (no AWS credentials needed). Settings: RDSPROXY_<NAME>=value.
synth: setup
	$(CDKTF) synth
	@echo "Terraform JSON: cdktf.out/stacks/state-bootstrap/cdk.tf.json and cdktf.out/stacks/rds-proxy-load-test/cdk.tf.json"

## The whole test suite (CI runs exactly this).
test: setup
	pipenv run python -m pytest -c tests/pytest.ini tests $(PYTEST_ARGS)

## Synth wall time and peak memory, as built versus the standard provider import.
bench: setup
	pipenv run python -m tests.benchmarks.synth_benchmark

## With real AWS credentials: create the state bucket once, then the stack; destroy when done.
deploy-state: setup
	$(CDKTF) deploy state-bootstrap

deploy: setup
	$(CDKTF) deploy rds-proxy-load-test

destroy: setup
	$(CDKTF) destroy rds-proxy-load-test
