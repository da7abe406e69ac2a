"""Shared fixtures: the app is synthesized once per test session for each settings variant."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests import constructs_lib and tests.support from the repo root

from tests.support import terraform  # noqa: E402
from tests.support.paths import in_ci  # noqa: E402
from tests.support.synth import Synth, synthesize  # noqa: E402

# The settings variants the suite synthesizes; each is synthesized at most once per session.
VARIANTS = {
    "default": {},
    "proxy_only": {"create_load_test_stack": False, "vpc_flow_logs": False, "state_lock_table": "tfstate-locks"},
}


@pytest.fixture(scope="session")
def synth_variant(tmp_path_factory: pytest.TempPathFactory):
    cache: dict[str, Synth] = {}

    def get(variant: str) -> Synth:
        if variant not in cache:
            cache[variant] = synthesize(tmp_path_factory.mktemp(f"synth-{variant}"), VARIANTS[variant])
        return cache[variant]

    return get


@pytest.fixture(scope="session")
def default_synth(synth_variant) -> Synth:
    return synth_variant("default")


@pytest.fixture(scope="session")
def proxy_only_synth(synth_variant) -> Synth:
    return synth_variant("proxy_only")


@pytest.fixture(scope="session")
def stack(default_synth):
    return default_synth.stack()


@pytest.fixture(scope="session")
def terraform_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = terraform.available()
    if reason:
        if in_ci():
            pytest.fail(f"Terraform must run in CI: {reason}")
        pytest.skip(reason)
    return terraform.cli_config(tmp_path_factory.mktemp("terraform-cli"))
