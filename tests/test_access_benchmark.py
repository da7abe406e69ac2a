"""`make bench-access` measures what it says: its mixes, its designs' connection counts, and its verdicts.

Nothing here is timed: the figures are printed by the benchmark itself; this checks what it counts.
"""

from __future__ import annotations

import collections
import random

import pytest

from constructs_lib.tenancy import all_tenants
from tests.benchmarks import access_benchmark as bench
from tests.support.access_runtimes import RUNTIMES

TENANTS = 6


@pytest.fixture(scope="module")
def results(mariadb_factory, tmp_path_factory):
    server = mariadb_factory()
    prepared = bench.prepare(tmp_path_factory.mktemp("bench"), server, TENANTS)
    try:
        measured = bench.run(prepared, TENANTS, 100, random.Random(1))
    finally:
        prepared.sts.stop()
    return {(r.mix, r.runtime, r.design): r for r in measured}


def test_every_mix_runs_every_design_in_both_runtimes_and_the_bare_query(results):
    expected = {(mix, runtime, design) for mix in bench.MIXES for runtime in RUNTIMES for design in bench.DESIGNS}
    assert set(results) == expected | {(mix, "-", bench.BARE) for mix in bench.MIXES}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_per_request_opens_one_connection_per_request_and_keeps_none(results, runtime):
    for mix in bench.MIXES:
        row = results[(mix, runtime, "per_request (the blog's)")]
        assert (row.hit_rate, row.opened_per_thousand) == (0.0, 1000.0)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_kept_connections_are_reused_when_the_bound_covers_the_tenants(results, runtime):
    # 6 tenants within the Proxy side's bound: after the warm-up every request finds its connection.
    assert results[("uniform", runtime, "proxy side, kept")].hit_rate == 1.0
    assert results[("uniform", runtime, "proxy side, kept")].opened_per_thousand == 0
    # The No Proxy side keeps 4 of them: some requests must log in again.
    no_proxy = results[("uniform", runtime, "no proxy side, kept")]
    assert 0 < no_proxy.hit_rate < 1 and no_proxy.opened_per_thousand == pytest.approx(1000 * (1 - no_proxy.hit_rate))


def test_both_runtimes_answer_the_same_sequences(results):
    """Same requests, same connection policy: the same hits and logins, whatever the runtime."""
    for mix in bench.MIXES:
        for design in bench.DESIGNS:
            python, nodejs = results[(mix, "python", design)], results[(mix, "nodejs", design)]
            assert (python.hit_rate, python.opened_per_thousand) == (nodejs.hit_rate, nodejs.opened_per_thousand)


def test_the_zipf_mix_is_skewed_and_the_uniform_one_is_not():
    tenants = all_tenants(200)
    zipf = collections.Counter(bench.tenant_mix(bench.MIXES[1], tenants, 20_000, random.Random(2)))
    uniform = collections.Counter(bench.tenant_mix("uniform", tenants, 20_000, random.Random(2)))
    assert zipf[tenants[0]] / 20_000 > 0.1 and zipf[tenants[0]] > 10 * zipf[tenants[20]]
    assert max(uniform.values()) < 3 * 20_000 / 200


def result(runtime: str, design: str, median: float) -> bench.Result:
    return bench.Result("uniform", runtime, design, median, median, 1.0, 0.0)


@pytest.mark.parametrize(
    ("per_request", "kept", "bare", "nodejs_kept", "met"),
    [
        (10.0, 1.0, 0.8, 1.5, True),
        (9.0, 1.0, 0.8, 1.5, False),  # python: per_request only 9x slower
        (10.0, 1.0, 0.4, 0.7, False),  # python: 2.5x the bare query
        (10.0, 1.0, 1.1, 2.1, False),  # nodejs: more than 2x python
        (10.0, 1.0, 0.5, 0.4, False),  # nodejs: less than half of python (something is skipped)
    ],
)
def test_the_verdicts_follow_the_targets(per_request, kept, bare, nodejs_kept, met):
    rows = [result("-", bench.BARE, bare)]
    for runtime, kept_ms in (("python", kept), ("nodejs", nodejs_kept)):
        rows += [
            result(runtime, "proxy side, kept", kept_ms),
            result(runtime, "no proxy side, kept", 2.0),
            result(
                runtime,
                "per_request (the blog's)",
                max(per_request, 10 * kept_ms) if runtime == "nodejs" else per_request,
            ),
        ]
    text, all_met = bench.report(rows)
    assert all_met is met, text
    assert ("MISSED" in text) is not met
