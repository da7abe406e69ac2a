"""Request latency of the access function on the load test's traffic, on a local MariaDB over verified TLS.

Both runtimes (Python and Node.js) answer the same tenant mixes in each design, one request at a time as
one Lambda instance does, after a warm-up with the same mix (an instance in the steady state of a load
test). Each instance is its own process, started as the contract suite starts it
(``tests/support/access_runtimes.py``), and times its own handler calls:

- proxy side, kept: the function as built with the Proxy side's default connection policy;
- no proxy side, kept: the same with the No Proxy side's small bound;
- per_request: the blog's function (AssumeRole, new token, new TLS connection, closed after);
- bare query: the same query on a warm TLS connection per tenant (PyMySQL), no function around it.

Mixes: uniform over 200 tenants (what the Locust users send) and Zipf with s = 1.1 (a few busy tenants).
Every design runs the whole token path (AssumeRole on moto's server on 127.0.0.1: faster than STS on
AWS, so per_request flatters itself); the login itself uses the tenant's native password.

    pipenv run python -m tests.benchmarks.access_benchmark [--requests 2000] [--tenants 200]

Targets (uniform mix, each runtime): proxy side kept median >= 10x below per_request, and <= 2x the bare
query; the Node.js function's proxy side kept median within 2x of the Python one's. Exits 1 when one is
missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "lambda"))

from seeding import PasswordInSecretUser, TenantSeeder  # noqa: E402
from tenant_data import query_rows, random_ids  # noqa: E402

from constructs_lib.function_contract import ConnectionPolicy  # noqa: E402
from constructs_lib.settings import Settings  # noqa: E402
from constructs_lib.tenancy import Tenant, all_tenants  # noqa: E402
from loadtest.local.deployment import local_access_config  # noqa: E402
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, MariaDB, start_mariadb  # noqa: E402
from loadtest.local.nodejs_package import stage_nodejs_function  # noqa: E402
from loadtest.local.standins import MemorySecretStore  # noqa: E402
from tests.support.access_runtimes import RUNTIMES, RecordingSts, start_instance  # noqa: E402

ZIPF_S = 1.1
PROXY_KEPT = Settings.model_fields["proxy_side_max_kept_connections"].default
NO_PROXY_KEPT = Settings.model_fields["no_proxy_side_max_kept_connections"].default
DESIGNS = {
    "proxy side, kept": ConnectionPolicy(mode="kept", max_kept=PROXY_KEPT),
    "no proxy side, kept": ConnectionPolicy(mode="kept", max_kept=NO_PROXY_KEPT),
    "per_request (the blog's)": ConnectionPolicy(mode="per_request"),
}
BARE = "bare query, warm TLS"
SPEEDUP_TARGET, OVERHEAD_TARGET, RUNTIME_TARGET = 10.0, 2.0, 2.0


def tenant_mix(mix: str, tenants: Sequence[Tenant], count: int, rng: random.Random) -> list[Tenant]:
    """``count`` tenants drawn as the mix says."""
    if mix == "uniform":
        return [rng.choice(tenants) for _ in range(count)]
    weights = [1 / (rank + 1) ** ZIPF_S for rank in range(len(tenants))]
    return rng.choices(tenants, weights=weights, k=count)


MIXES = ("uniform", f"zipf s={ZIPF_S}")


@dataclass(frozen=True)
class Result:
    mix: str
    runtime: str  # "python", "nodejs", or "-" for the bare query
    design: str
    median_ms: float
    p99_ms: float
    hit_rate: float
    opened_per_thousand: float


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def timed(requests: Sequence[Tenant], serve: Callable[[Tenant], None]) -> list[float]:
    samples = []
    for tenant in requests:
        start = time.perf_counter()
        serve(tenant)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


@dataclass(frozen=True)
class Bench:
    """What every design needs: the seeded server, its tenants' passwords, STS, and the staged Node.js function."""

    server: MariaDB
    passwords: dict[int, str]
    sts: RecordingSts
    staged_nodejs: Path
    scratch: Path


def environment(bench: Bench, tenants: int, policy: ConnectionPolicy) -> dict[str, str]:
    config = local_access_config(bench.server, tenants, policy, name="bench", resource_id="prx-bench")
    return {
        **config.to_environment(),  # what the handler reads, as the stack writes it
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_STS": bench.sts.endpoint,
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }


def run(
    bench: Bench, tenants: int, requests: int, rng: random.Random, runtimes: Sequence[str] = RUNTIMES
) -> list[Result]:
    """Every mix through every design in every runtime; per_request gets a fifth of the requests (it is slow,
    and steady). The runtimes answer the very same sequences."""
    population = all_tenants(tenants)
    results = []
    for mix in MIXES:
        for design, policy in DESIGNS.items():
            count = requests // 5 if policy.per_request else requests
            warm_up = [t.id for t in tenant_mix(mix, population, count, rng)]
            measured = [t.id for t in tenant_mix(mix, population, count, rng)]
            for runtime in runtimes:
                instance = start_instance(
                    runtime,
                    environment(bench, tenants, policy),
                    bench.passwords,
                    bench.scratch / f"{mix}-{design}-{runtime}".replace(" ", "_"),
                    bench.staged_nodejs,
                )
                try:
                    instance.bench(warm_up)  # the instance's steady state
                    instance.reset_stats()  # count the measured requests only
                    samples = instance.bench(measured)
                    stats = instance.stats()
                finally:
                    instance.stop()
                results.append(
                    Result(
                        mix,
                        runtime,
                        design,
                        statistics.median(samples),
                        percentile(samples, 0.99),
                        stats["reused"] / stats["requests"],
                        1000 * stats["opened"] / stats["requests"],
                    )
                )
        results.append(bare(bench, population, mix, requests, rng))
    return results


def bare(bench: Bench, population, mix: str, requests: int, rng) -> Result:
    """The query alone, on a TLS connection per tenant opened beforehand."""
    connections = {
        tenant.id: bench.server.connect(tenant.db_user, bench.passwords[tenant.id], tenant.database, autocommit=True)
        for tenant in population
    }
    try:
        samples = timed(
            tenant_mix(mix, population, requests, rng),
            lambda tenant: query_rows(connections[tenant.id], random_ids(rng)),
        )
    finally:
        for connection in connections.values():
            connection.close()
    return Result(mix, "-", BARE, statistics.median(samples), percentile(samples, 0.99), 1.0, 0.0)


def verdicts(results: Sequence[Result]) -> list[tuple[str, float, bool]]:
    """(target, measured ratio, met) for the uniform mix: each runtime against its per_request design and the
    bare query, and the runtimes against each other."""
    median = {(r.runtime, r.design): r.median_ms for r in results if r.mix == "uniform"}
    runtimes = [runtime for runtime in RUNTIMES if (runtime, "proxy side, kept") in median]
    checks = []
    for runtime in runtimes:
        kept = median[(runtime, "proxy side, kept")]
        speedup = median[(runtime, "per_request (the blog's)")] / kept
        overhead = kept / median[("-", BARE)]
        checks += [
            (
                f"{runtime}: proxy side kept >= {SPEEDUP_TARGET:g}x below per_request",
                speedup,
                speedup >= SPEEDUP_TARGET,
            ),
            (
                f"{runtime}: proxy side kept <= {OVERHEAD_TARGET:g}x the bare query",
                overhead,
                overhead <= OVERHEAD_TARGET,
            ),
        ]
    if len(runtimes) == 2:
        ratio = median[("nodejs", "proxy side, kept")] / median[("python", "proxy side, kept")]
        checks.append(
            (
                f"nodejs proxy side kept within {RUNTIME_TARGET:g}x of python's",
                ratio,
                1 / RUNTIME_TARGET <= ratio <= RUNTIME_TARGET,
            )
        )
    return checks


def report(results: Sequence[Result]) -> tuple[str, bool]:
    """The table and verdicts as printed; whether every target was met."""
    lines = [
        f"{'mix':<13} {'runtime':<7} {'design':<26} {'median ms':>9} {'p99 ms':>8} {'hit rate':>8} {'opened/1k':>9}",
    ]
    for r in results:
        lines.append(
            f"{r.mix:<13} {r.runtime:<7} {r.design:<26} {r.median_ms:>9.3f} {r.p99_ms:>8.3f} {r.hit_rate:>8.1%} "
            f"{r.opened_per_thousand:>9.0f}"
        )
    checks = verdicts(results)
    for target, ratio, met in checks:
        lines.append(f"target: {target}: measured {ratio:.2f}x -> {'met' if met else 'MISSED'}")
    return "\n".join(lines), all(met for _, _, met in checks)


def prepare(scratch: Path, server: MariaDB, tenants: int) -> Bench:
    """Seed ``tenants`` on ``server``; start STS; stage the Node.js function as synth packages it."""
    store = MemorySecretStore()
    identity = PasswordInSecretUser(store, "bench", server.host, server.port)
    TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity).seed(all_tenants(tenants))
    passwords = {t.id: store.values[t.secret_name("bench")]["password"] for t in all_tenants(tenants)}
    return Bench(server, passwords, RecordingSts(), stage_nodejs_function(scratch / "nodejs"), scratch)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per mix and design")
    parser.add_argument("--tenants", type=int, default=200)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        server = start_mariadb(Path(scratch) / "db")
        try:
            bench = prepare(Path(scratch), server, options.tenants)
            try:
                results = run(bench, options.tenants, options.requests, random.Random(5))
            finally:
                bench.sts.stop()
        finally:
            server.stop()
    text, met = report(results)
    print(text)
    print("targets:", "all met" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
