"""Request latency of the access function on a local MariaDB over verified TLS, in one run:

- warm: the function as built, on a warm instance (credentials, token and connection reused);
- original: the original sample's per-request design (STS AssumeRole + new auth token + new TLS
  connection with a fresh SSL context, every request); STS is moto in-process, so this baseline
  is faster than it would be on AWS;
- bare: the same query on a warm TLS connection, with no function around it.

    pipenv run python -m tests.benchmarks.access_benchmark [--requests 2000]

Targets: warm >= 10x faster than original (median) and within 2x of bare. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "lambda"))

import access_handler  # noqa: E402
import boto3  # noqa: E402
import botocore.session  # noqa: E402
import pymysql  # noqa: E402
from moto import mock_aws  # noqa: E402
from seeding import PasswordInSecretUser, TenantSeeder  # noqa: E402
from tenant_access import TenantCredentialSource  # noqa: E402
from tenant_data import QUERY, ROWS_PER_REQUEST  # noqa: E402

from constructs_lib.function_contract import AccessConfig, session_policy, session_tags  # noqa: E402
from constructs_lib.tenancy import ROWS_PER_TENANT, all_tenants  # noqa: E402
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, start_mariadb  # noqa: E402
from loadtest.local.standins import (
    MemorySecretStore,  # noqa: E402
    NativePasswordAfterAssumeRole,  # noqa: E402
)
from tests.support.lambda_context import FakeLambdaContext  # noqa: E402

TENANTS = 10
ROLE_ARN = "arn:aws:iam::123456789012:role/bench-tenant-access"


def timed(function, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    count = parser.parse_args().requests
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
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as scratch, mock_aws():
        server = start_mariadb(Path(scratch))
        try:
            store = MemorySecretStore()
            identity = PasswordInSecretUser(store, "bench", server.host, server.port)
            TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity).seed(all_tenants(TENANTS))
            os.environ.update(
                {
                    "DB_ENDPOINTS": server.host,
                    "DB_PORT": str(server.port),
                    "DB_RESOURCE_IDS": "prx-bench",
                    "TENANT_ROLE_ARN": ROLE_ARN,
                    "DB_USER_ARN_PREFIX": "arn:aws:rds-db:us-east-1:123456789012:dbuser:",
                    "CA_BUNDLE": str(server.pki.ca_file),
                    "TENANT_COUNT": str(TENANTS),
                    "MAX_TENANT_CONNECTIONS": "16",
                }
            )
            sts = boto3.client("sts", region_name="us-east-1")
            configuration = AccessConfig.from_environment(os.environ)
            data = access_handler.build_tenant_data(
                configuration, NativePasswordAfterAssumeRole(TenantCredentialSource(sts), store, "bench")
            )
            access_handler.tenant_data = lambda: data
            tenant = all_tenants(TENANTS)[3]
            event = {"queryStringParameters": {"tenant": str(tenant.id)}, "requestContext": {"requestId": "b"}}
            context = FakeLambdaContext()

            def warm():
                assert access_handler.handler(event, context)["statusCode"] == 200

            target = configuration.targets[0]
            password = store.values[tenant.secret_name("bench")]["password"]
            botocore_session = botocore.session.get_session()

            def original():
                credentials = sts.assume_role(
                    RoleArn=ROLE_ARN,
                    RoleSessionName="tenant",
                    Policy=session_policy(tenant, target),
                    Tags=session_tags(tenant),
                )["Credentials"]
                rds = botocore_session.create_client(
                    "rds",
                    region_name="us-east-1",
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
                rds.generate_db_auth_token(target.endpoint, target.port, tenant.db_user, "us-east-1")
                # PyMySQL given an ssl dict builds a new SSL context per connect, as the original did.
                connection = pymysql.connect(
                    host=server.host,
                    port=server.port,
                    user=tenant.db_user,
                    password=password,
                    database=tenant.database,
                    ssl={"ca": str(server.pki.ca_file)},
                )
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(QUERY, rng.sample(range(1, ROWS_PER_TENANT + 1), ROWS_PER_REQUEST))
                        cursor.fetchall()
                finally:
                    connection.close()

            bare_connection = server.connect(tenant.db_user, password, tenant.database, autocommit=True)

            def bare():
                with bare_connection.cursor() as cursor:
                    cursor.execute(QUERY, rng.sample(range(1, ROWS_PER_TENANT + 1), ROWS_PER_REQUEST))
                    cursor.fetchall()

            for function in (warm, bare, original):  # warm up all three
                timed(function, 20)
            results = {
                "warm function (as built)": summary(timed(warm, count)),
                "original per-request design": summary(timed(original, max(200, count // 10))),
                "bare query, warm TLS connection": summary(timed(bare, count)),
            }
            bare_connection.close()
        finally:
            server.stop()

    print(f"{'':<34} {'median ms':>10} {'p99 ms':>9}")
    for name, (median, p99) in results.items():
        print(f"{name:<34} {median:>10.3f} {p99:>9.3f}")
    warm_median = results["warm function (as built)"][0]
    speedup = results["original per-request design"][0] / warm_median
    overhead = warm_median / results["bare query, warm TLS connection"][0]
    print(f"warm vs original: {speedup:.1f}x faster; warm vs bare query: {overhead:.2f}x")
    missed = [
        t
        for t, bad in (
            ("warm >= 10x faster than original", speedup < 10),
            ("warm within 2x of the bare query", overhead > 2),
        )
        if bad
    ]
    print("targets:", "all met" if not missed else "MISSED: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
