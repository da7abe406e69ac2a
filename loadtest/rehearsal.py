"""Rehearse the load test on this machine, without AWS.

    pipenv run python -m loadtest.rehearsal [--tenants 200] [--users 20] [--run-time 30s] ...

Starts a throwaway MariaDB on 127.0.0.1, seeds the tenants with the project's seeding code, serves
the project's access function behind a local stand-in for API Gateway (``proxy_stage`` and
``no_proxy_stage``, each with its own function configuration), runs Locust headless against it,
writes the CSV and HTML reports, prints a side-by-side summary, and stops everything it started.
Locally both paths reach MariaDB directly (there is no RDS Proxy here), so the summary compares
the two configurations, not what a proxy buys. STS is moto's, in this process; the final database
login uses each tenant's native password instead of an IAM token (MariaDB cannot check one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

import access_handler  # noqa: E402
import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from seeding import PasswordInSecretUser, TenantSeeder  # noqa: E402
from tenant_access import TenantCredentialSource  # noqa: E402

from constructs_lib.function_contract import AccessConfig  # noqa: E402
from constructs_lib.tenancy import all_tenants  # noqa: E402
from loadtest.local.api import LocalApi, Stage  # noqa: E402
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, start_mariadb  # noqa: E402
from loadtest.local.standins import MemorySecretStore, NativePasswordAfterAssumeRole  # noqa: E402

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
NAME_PREFIX = "rehearsal"
PATHS = ("proxy", "noproxy")
# What the stage functions are told; partition/account are moto's, nothing leaves this machine.
STAGE_RESOURCE_IDS = {"proxy_stage": "prx-rehearsal", "no_proxy_stage": "cluster-REHEARSAL"}


def stage_configuration(server, resource_id: str, tenant_count: int, max_connections: int) -> AccessConfig:
    return AccessConfig(
        endpoints=[server.host],
        resource_ids=[resource_id],
        tenant_role_arn=f"arn:aws:iam::123456789012:role/{NAME_PREFIX}-tenant-access",
        db_user_arn_prefix="arn:aws:rds-db:us-east-1:123456789012:dbuser:",
        tenant_count=tenant_count,
        max_tenant_connections=max_connections,
        ca_file=str(server.pki.ca_file),
        port=server.port,
    )


@dataclass(frozen=True)
class PathSummary:
    name: str
    requests: int
    failures: int
    median_ms: float
    p95_ms: float
    rps: float


def _percentile(buckets: dict[str, int], fraction: float) -> float:
    """Locust's response-time buckets (ms -> count) to a percentile."""
    total, seen = sum(buckets.values()), 0
    for milliseconds, count in sorted(buckets.items(), key=lambda item: float(item[0])):
        seen += count
        if seen >= fraction * total:
            return float(milliseconds)
    return 0.0


def summary(stats_json: Path) -> list[PathSummary]:
    """Per path, from Locust's final statistics (its CSV files may miss the last second)."""
    entries = {entry["name"]: entry for entry in json.loads(stats_json.read_text())}
    rows = []
    for name in PATHS:
        entry = entries.get(name, {"num_requests": 0, "num_failures": 0, "response_times": {}})
        seconds = max(entry.get("last_request_timestamp", 0) - entry.get("start_time", 0), 1e-9)
        times = entry["response_times"]
        rows.append(
            PathSummary(
                name=name,
                requests=entry["num_requests"],
                failures=entry["num_failures"],
                median_ms=_percentile(times, 0.5),
                p95_ms=_percentile(times, 0.95),
                rps=entry["num_requests"] / seconds if entry["num_requests"] else 0.0,
            )
        )
    return rows


def print_summary(rows: list[PathSummary]) -> None:
    print(f"\n{'path':<8} {'requests':>9} {'failures':>9} {'median ms':>10} {'p95 ms':>8} {'req/s':>7}")
    for row in rows:
        print(
            f"{row.name:<8} {row.requests:>9} {row.failures:>9} {row.median_ms:>10.0f} {row.p95_ms:>8.0f} "
            f"{row.rps:>7.1f}"
        )
    print(
        "Locally both paths reach MariaDB directly (there is no RDS Proxy here): this rehearses the flow,\n"
        "it does not measure what the proxy buys. Run the load test on AWS for that."
    )


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=200, help="tenants seeded")
    parser.add_argument("--locust-tenant-count", type=int, help="tenants Locust picks from (default: --tenants)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--run-time", default="30s")
    parser.add_argument("--wait-min", type=float, default=0.5)
    parser.add_argument("--wait-max", type=float, default=1.5)
    parser.add_argument("--max-connections", type=int, default=16, help="tenant connections per stage")
    parser.add_argument("--max-failure-ratio", type=float, default=-1, help="passed to Locust (exit 1 above it)")
    parser.add_argument("--max-p95-ms", type=float, default=-1, help="passed to Locust (exit 1 above it)")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "reports" / "rehearsal")
    return parser.parse_args(argv)


def run_locust(url: str, options: argparse.Namespace) -> int:
    options.report_dir.mkdir(parents=True, exist_ok=True)
    prefix = options.report_dir / "rehearsal"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "-u",
        str(options.users),
        "-r",
        str(options.spawn_rate),
        "-t",
        options.run_time,
        "--host",
        url,
        "--csv",
        str(prefix),
        "--html",
        f"{prefix}.html",
        "--json-file",
        str(prefix),
        "--tenant-count",
        str(options.locust_tenant_count or options.tenants),
        "--wait-min",
        str(options.wait_min),
        "--wait-max",
        str(options.wait_max),
        "--max-failure-ratio",
        str(options.max_failure_ratio),
        "--max-p95-ms",
        str(options.max_p95_ms),
    ]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    with tempfile.TemporaryDirectory(prefix="rehearsal-") as scratch, mock_aws():
        server = start_mariadb(Path(scratch))
        try:
            store = MemorySecretStore()
            identity = PasswordInSecretUser(store, NAME_PREFIX, server.host, server.port)
            report = TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity).seed(
                all_tenants(options.tenants)
            )
            print(f"seeded {len(report.created)} tenants into MariaDB on {server.host}:{server.port}")
            sts = boto3.client("sts", region_name="us-east-1")
            stages = {}
            for stage, resource_id in STAGE_RESOURCE_IDS.items():
                configuration = stage_configuration(server, resource_id, options.tenants, options.max_connections)
                passwords = NativePasswordAfterAssumeRole(TenantCredentialSource(sts), store, NAME_PREFIX)
                data = access_handler.build_tenant_data(configuration, passwords)
                stages[stage] = Stage(data, options.tenants, threading.Lock())
            with LocalApi(stages) as api:
                print(f"local API on {api.url}; Locust: {options.users} users for {options.run_time}")
                exit_code = run_locust(api.url, options)
            for stage in stages.values():
                for tenant in all_tenants(options.tenants):
                    stage.data.forget(tenant)
        finally:
            server.stop()
    print_summary(summary(options.report_dir / "rehearsal.json"))
    print(f"reports: {options.report_dir}/rehearsal.html, rehearsal.json and rehearsal_*.csv")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
