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
import csv
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from html import escape
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
REHEARSAL_TITLE = "Local rehearsal: MariaDB on this machine, no RDS Proxy, no AWS"
REHEARSAL_LABEL = (
    "Local rehearsal, not a measurement of RDS Proxy: both paths (proxy and noproxy) reach one MariaDB on "
    "this machine directly; there is no RDS Proxy, no Aurora and no API Gateway here. It rehearses the flow; "
    "run the load test on AWS to see what the proxy buys."
)


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


def summary(stats_csv: Path) -> list[PathSummary]:
    """Per path, as Locust wrote it in its statistics CSV (final figures: the locustfile waits for them)."""
    with stats_csv.open(newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    empty = {"Request Count": 0, "Failure Count": 0, "50%": 0, "95%": 0, "Requests/s": 0}
    return [
        PathSummary(
            name=name,
            requests=int(rows.get(name, empty)["Request Count"]),
            failures=int(rows.get(name, empty)["Failure Count"]),
            median_ms=float(rows.get(name, empty)["50%"]),
            p95_ms=float(rows.get(name, empty)["95%"]),
            rps=float(rows.get(name, empty)["Requests/s"]),
        )
        for name in PATHS
    ]


def label_report(html_file: Path) -> None:
    """Say on the HTML report itself what it is: Locust's standard page would pass for a measurement."""
    html = html_file.read_text()
    body = html.index("<body>", html.index("</head>"))
    banner = (
        '<div id="rehearsal-label" style="padding:12px 16px;background:#fff3cd;color:#664d03;'
        f'font:16px sans-serif;border-bottom:1px solid #ffe69c">{escape(REHEARSAL_LABEL)}</div>'
    )
    html = html[: body + len("<body>")] + banner + html[body + len("<body>") :]
    html_file.write_text(html.replace("<title>Locust</title>", f"<title>{escape(REHEARSAL_TITLE)}</title>", 1))


def print_summary(rows: list[PathSummary]) -> None:
    print(f"\n{REHEARSAL_TITLE}")
    print(f"{'path':<8} {'requests':>9} {'failures':>9} {'median ms':>10} {'p95 ms':>8} {'req/s':>7}")
    for row in rows:
        print(
            f"{row.name:<8} {row.requests:>9} {row.failures:>9} {row.median_ms:>10.0f} {row.p95_ms:>8.0f} "
            f"{row.rps:>7.1f}"
        )
    print(REHEARSAL_LABEL)


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
    label_report(options.report_dir / "rehearsal.html")
    print_summary(summary(options.report_dir / "rehearsal_stats.csv"))
    print(f"reports: {options.report_dir}/rehearsal.html, rehearsal.json and rehearsal_*.csv")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
