"""Seeding 200 tenants x 1,000 rows on a local MariaDB, in one run, each on a fresh server:
the seeding function's way (one multi-row INSERT ... SELECT of server-generated rows and one
commit per tenant) versus the original sample's (one INSERT per row).

    pipenv run python -m tests.benchmarks.seed_benchmark [--tenants 200]

Target (2-core machine): <= 5 s and >= 10x faster than one INSERT per row. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "lambda"))

from seeding import PasswordInSecretUser, TenantSeeder  # noqa: E402

from constructs_lib.tenancy import ROWS_PER_TENANT, TENANT_TABLE, VALUE_COLUMNS, all_tenants  # noqa: E402
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, start_mariadb  # noqa: E402
from loadtest.local.standins import MemorySecretStore  # noqa: E402


def seed_as_built(server, tenants) -> float:
    identity = PasswordInSecretUser(MemorySecretStore(), "bench", server.host, server.port)
    seeder = TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity)
    start = time.perf_counter()
    report = seeder.seed(tenants)
    elapsed = time.perf_counter() - start
    assert len(report.created) == len(tenants) and not report.failed
    return elapsed


def seed_one_row_per_insert(server, tenants) -> float:
    """The original sample's loop (with the commit it forgot, so both runs store the same data)."""
    rng = random.Random(1)
    start = time.perf_counter()
    with server.connect(MASTER_USER, MASTER_PASSWORD) as connection, connection.cursor() as cursor:
        for tenant in tenants:
            cursor.execute(f"CREATE DATABASE `{tenant.database}`")
            columns = ", ".join(f"`{c}` INT" for c in VALUE_COLUMNS)
            cursor.execute(f"CREATE TABLE `{tenant.database}`.`{TENANT_TABLE}` (`ID` INT PRIMARY KEY, {columns})")
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (tenant.db_user, "x" * 32))
            cursor.execute(f"GRANT SELECT ON `{tenant.database}`.* TO %s@'%%'", (tenant.db_user,))
            for row_id in range(1, ROWS_PER_TENANT + 1):
                values = ", ".join(str(rng.randint(0, 1_000_000)) for _ in VALUE_COLUMNS)
                cursor.execute(f"INSERT INTO `{tenant.database}`.`{TENANT_TABLE}` VALUES ({row_id}, {values})")
            connection.commit()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=200)
    tenants = all_tenants(parser.parse_args().tenants)
    rows = len(tenants) * ROWS_PER_TENANT
    timings = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, run in (
            ("as built (one multi-row INSERT per tenant)", seed_as_built),
            ("original (one INSERT per row)", seed_one_row_per_insert),
        ):
            server = start_mariadb(Path(scratch) / name.split()[0])
            try:
                timings[name] = run(server, tenants)
            finally:
                server.stop()
            print(f"{name:<44} {timings[name]:>7.2f} s  ({rows / timings[name]:,.0f} rows/s)", flush=True)
    built, original = timings.values()
    print(f"speedup: {original / built:.1f}x for {len(tenants)} tenants x {ROWS_PER_TENANT} rows")
    missed = [t for t, bad in (("<= 5 s", built > 5), (">= 10x", original / built < 10)) if bad]
    print("targets:", "all met" if not missed else "MISSED: " + ", ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
