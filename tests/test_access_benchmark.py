"""`make bench-access` measures what it says: its mixes, its designs' connection counts, and its verdicts.

Nothing here is timed: the figures are printed by the benchmark itself; this checks what it counts.
"""

from __future__ import annotations

import collections
import os
import random

import pytest
from moto import mock_aws
from seeding import PasswordInSecretUser, TenantSeeder

from constructs_lib.tenancy import all_tenants
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER
from loadtest.local.standins import MemorySecretStore
from tests.benchmarks import access_benchmark as bench

TENANTS = 6


@pytest.fixture(scope="module")
def results(mariadb_factory):
    server = mariadb_factory()
    store = MemorySecretStore()
    identity = PasswordInSecretUser(store, "bench", server.host, server.port)
    TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity).seed(all_tenants(TENANTS))
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for key, value in {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
        }.items():
            patch.setenv(key, value)
        # run() points the handler at each design as a deployment would (environment, then its own data);
        # give the next tests the handler and environment they had.
        patch.setattr(bench.access_handler, "tenant_data", bench.access_handler.tenant_data)
        patch.setattr(os, "environ", os.environ.copy())
        try:
            measured = bench.run(server, store, TENANTS, 100, random.Random(1))
        finally:
            bench.access_handler.configuration.cache_clear()
    yield {(r.mix, r.design): r for r in measured}


def test_every_mix_runs_every_design_and_the_bare_query(results):
    assert set(results) == {(mix, design) for mix in bench.MIXES for design in [*bench.DESIGNS, bench.BARE]}


def test_per_request_opens_one_connection_per_request_and_keeps_none(results):
    for mix in bench.MIXES:
        row = results[(mix, "per_request (the blog's)")]
        assert (row.hit_rate, row.opened_per_thousand) == (0.0, 1000.0)


def test_kept_connections_are_reused_when_the_bound_covers_the_tenants(results):
    # 6 tenants within the Proxy side's bound: after the warm-up every request finds its connection.
    assert results[("uniform", "proxy side, kept")].hit_rate == 1.0
    assert results[("uniform", "proxy side, kept")].opened_per_thousand == 0
    # The No Proxy side keeps 4 of them: some requests must log in again.
    no_proxy = results[("uniform", "no proxy side, kept")]
    assert 0 < no_proxy.hit_rate < 1 and no_proxy.opened_per_thousand == pytest.approx(1000 * (1 - no_proxy.hit_rate))


def test_the_zipf_mix_is_skewed_and_the_uniform_one_is_not():
    tenants = all_tenants(200)
    zipf = collections.Counter(bench.tenant_mix(bench.MIXES[1], tenants, 20_000, random.Random(2)))
    uniform = collections.Counter(bench.tenant_mix("uniform", tenants, 20_000, random.Random(2)))
    assert zipf[tenants[0]] / 20_000 > 0.1 and zipf[tenants[0]] > 10 * zipf[tenants[20]]
    assert max(uniform.values()) < 3 * 20_000 / 200


def result(design: str, median: float) -> bench.Result:
    return bench.Result("uniform", design, median, median, 1.0, 0.0)


@pytest.mark.parametrize(
    ("per_request", "kept", "bare", "met"),
    [(10.0, 1.0, 0.6, True), (9.0, 1.0, 0.6, False), (10.0, 1.0, 0.4, False)],
)
def test_the_verdicts_follow_the_targets(per_request, kept, bare, met):
    rows = [
        result("proxy side, kept", kept),
        result("no proxy side, kept", 2.0),
        result("per_request (the blog's)", per_request),
        result(bench.BARE, bare),
    ]
    text, all_met = bench.report(rows)
    assert all_met is met
    assert ("MISSED" in text) is not met
