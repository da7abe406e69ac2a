"""Request latency of the access function on the load test's traffic, on a local MariaDB over verified TLS.

Each design answers the same tenant mixes, one request at a time as one Lambda instance does, after a
warm-up with the same mix (an instance in the steady state of a load test):

- proxy side, kept: the function as built with the Proxy side's default connection policy;
- no proxy side, kept: the same with the No Proxy side's small bound;
- per_request: the blog's function (AssumeRole, new token, new TLS connection, closed after);
- bare query: the same query on a warm TLS connection per tenant, no function around it.

Mixes: uniform over 200 tenants (what the Locust users send) and Zipf with s = 1.1 (a few busy tenants).
Every design runs the whole token path (moto's STS in this process, so AssumeRole is faster than on
AWS and per_request flatters itself); the login itself uses the tenant's native password.

    pipenv run python -m tests.benchmarks.access_benchmark [--requests 2000] [--tenants 200]

Targets (uniform mix): proxy side kept median >= 10x below per_request, and <= 2x the bare query.
Exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import os
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

import access_handler  # noqa: E402
import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from seeding import PasswordInSecretUser, TenantSeeder  # noqa: E402
from tenant_data import ConnectionStats, query_rows, random_ids  # noqa: E402

from constructs_lib.function_contract import ConnectionPolicy  # noqa: E402
from constructs_lib.settings import Settings  # noqa: E402
from constructs_lib.tenancy import Tenant, all_tenants  # noqa: E402
from loadtest.local.deployment import local_access_config  # noqa: E402
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, MariaDB, start_mariadb  # noqa: E402
from loadtest.local.standins import MemorySecretStore, NativePasswordAfterIamToken  # noqa: E402
from tests.support.lambda_context import FakeLambdaContext  # noqa: E402

ZIPF_S = 1.1
PROXY_KEPT = Settings.model_fields["proxy_side_max_kept_connections"].default
NO_PROXY_KEPT = Settings.model_fields["no_proxy_side_max_kept_connections"].default
DESIGNS = {
    "proxy side, kept": ConnectionPolicy(mode="kept", max_kept=PROXY_KEPT),
    "no proxy side, kept": ConnectionPolicy(mode="kept", max_kept=NO_PROXY_KEPT),
    "per_request (the blog's)": ConnectionPolicy(mode="per_request"),
}
BARE = "bare query, warm TLS"
SPEEDUP_TARGET, OVERHEAD_TARGET = 10.0, 2.0


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


def event(tenant: Tenant) -> dict:
    return {"queryStringParameters": {"tenant": str(tenant.id)}, "requestContext": {"requestId": "bench"}}


def run(server: MariaDB, store: MemorySecretStore, tenants: int, requests: int, rng: random.Random) -> list[Result]:
    """Every mix through every design; per_request gets a fifth of the requests (it is slow, and steady)."""
    population = all_tenants(tenants)
    sts = boto3.client("sts", region_name="us-east-1")
    context = FakeLambdaContext()
    results = []
    for mix in MIXES:
        for design, policy in DESIGNS.items():
            config = local_access_config(server, tenants, policy, name="bench", resource_id="prx-bench")
            os.environ.update(config.to_environment())  # what the handler reads, as the stack writes it
            access_handler.configuration.cache_clear()
            tokens = access_handler.iam_passwords(config, "us-east-1", sts)
            data = access_handler.build_tenant_data(config, NativePasswordAfterIamToken(tokens, store, "bench"))
            access_handler.tenant_data = lambda data=data: data
            count = requests // 5 if policy.per_request else requests

            def serve(tenant: Tenant) -> None:
                assert access_handler.handler(event(tenant), context)["statusCode"] == 200

            try:
                timed(tenant_mix(mix, population, count, rng), serve)  # warm-up: the instance's steady state
                data.stats = ConnectionStats()  # count the measured requests only
                samples = timed(tenant_mix(mix, population, count, rng), serve)
            finally:
                data.close()
            stats = data.stats
            results.append(
                Result(
                    mix,
                    design,
                    statistics.median(samples),
                    percentile(samples, 0.99),
                    stats.hit_rate,
                    stats.opened_per_thousand,
                )
            )
        results.append(bare(server, store, population, mix, requests, rng))
    return results


def bare(server: MariaDB, store: MemorySecretStore, population, mix: str, requests: int, rng) -> Result:
    """The query alone, on a TLS connection per tenant opened beforehand."""
    connections = {
        tenant.id: server.connect(
            tenant.db_user, store.values[tenant.secret_name("bench")]["password"], tenant.database, autocommit=True
        )
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
    return Result(mix, BARE, statistics.median(samples), percentile(samples, 0.99), 1.0, 0.0)


def verdicts(results: Sequence[Result]) -> list[tuple[str, float, bool]]:
    """(target, measured ratio, met) for the uniform mix."""
    median = {r.design: r.median_ms for r in results if r.mix == "uniform"}
    speedup = median["per_request (the blog's)"] / median["proxy side, kept"]
    overhead = median["proxy side, kept"] / median[BARE]
    return [
        (f"proxy side kept >= {SPEEDUP_TARGET:g}x below per_request", speedup, speedup >= SPEEDUP_TARGET),
        (f"proxy side kept <= {OVERHEAD_TARGET:g}x the bare query", overhead, overhead <= OVERHEAD_TARGET),
    ]


def report(results: Sequence[Result]) -> tuple[str, bool]:
    """The table and verdicts as printed; whether every target was met."""
    lines = [
        f"{'mix':<13} {'design':<26} {'median ms':>9} {'p99 ms':>8} {'hit rate':>8} {'opened/1k':>9}",
    ]
    for r in results:
        lines.append(
            f"{r.mix:<13} {r.design:<26} {r.median_ms:>9.3f} {r.p99_ms:>8.3f} {r.hit_rate:>8.1%} "
            f"{r.opened_per_thousand:>9.0f}"
        )
    checks = verdicts(results)
    for target, ratio, met in checks:
        lines.append(f"target: {target}: measured {ratio:.2f}x -> {'met' if met else 'MISSED'}")
    return "\n".join(lines), all(met for _, _, met in checks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per mix and design")
    parser.add_argument("--tenants", type=int, default=200)
    options = parser.parse_args(argv)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    with tempfile.TemporaryDirectory() as scratch, mock_aws():
        server = start_mariadb(Path(scratch))
        try:
            store = MemorySecretStore()
            identity = PasswordInSecretUser(store, "bench", server.host, server.port)
            seeder = TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity)
            seeder.seed(all_tenants(options.tenants))
            results = run(server, store, options.tenants, options.requests, random.Random(5))
        finally:
            server.stop()
    text, met = report(results)
    print(text)
    print("targets:", "all met" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
