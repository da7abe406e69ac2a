"""Shared fixtures: the app is synthesized once per test session for each settings variant."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests import constructs_lib and tests.support from the repo root
sys.path.insert(1, str(ROOT / "lambda"))  # the functions' modules, as the Lambda runtime sees them

from loadtest.local import mariadb as mariadb_harness  # noqa: E402
from tests.support import terraform  # noqa: E402
from tests.support.paths import in_ci  # noqa: E402
from tests.support.synth import Synth, synthesize  # noqa: E402

# The settings variants the suite synthesizes; each is synthesized at most once per session.
VARIANTS = {
    "default": {},
    "proxy_only": {"create_load_test_stack": False, "vpc_flow_logs": False, "state_lock_table": "tfstate-locks"},
    "nodejs": {"access_function_runtime": "nodejs"},
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
    _require(terraform.available())
    return terraform.cli_config(tmp_path_factory.mktemp("terraform-cli") / "terraform.rc")


def _require(reason: str | None) -> None:
    """Tests that need a local tool run in CI always; elsewhere they may skip, saying why."""
    if reason:
        if in_ci():
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def mariadb_installed() -> None:
    _require(mariadb_harness.unavailable())


@pytest.fixture(scope="session")
def mariadb_factory(tmp_path_factory: pytest.TempPathFactory):
    """Start throwaway MariaDB servers on 127.0.0.1; all are stopped at the end of the session."""
    _require(mariadb_harness.unavailable())
    servers: list[mariadb_harness.MariaDB] = []

    def start() -> mariadb_harness.MariaDB:
        server = mariadb_harness.start_mariadb(tmp_path_factory.mktemp("mariadb"))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
