"""Rehearse the load test on this machine, without AWS.

    pipenv run python -m loadtest.rehearsal [--tenants 200] [--users 20] [--run-time 30s] ...

Starts a throwaway MariaDB on 127.0.0.1 (``--db-max-connections``, reached over a relay that adds a
VPC-like round trip), seeds the tenants with the project's seeding code, serves the project's access
function behind a local stand-in for API Gateway (``proxy_stage`` and ``no_proxy_stage``, each with
its own function configuration, run as Lambda runs it: one process per instance, one request in
flight per instance, up to ``--concurrency`` instances), samples the server every second, runs
Locust headless against it, writes the CSV and HTML reports, prints a side-by-side summary, and
stops everything it started. Locally both paths reach MariaDB directly (there is no RDS Proxy
here), so the summary compares the two configurations, not what a proxy buys. STS is moto's, in its
own process; the final database login uses each tenant's native password instead of an IAM token
(MariaDB cannot check one).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import get_args

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from constructs_lib.function_contract import CONNECTION_MODES, AccessRuntime, ConnectionPolicy  # noqa: E402
from constructs_lib.settings import Settings  # noqa: E402
from loadtest import report  # noqa: E402
from loadtest.local.deployment import DB_LATENCY_MS, LocalDeployment, StageSpec, local_deployment  # noqa: E402

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
PATHS = ("proxy", "noproxy")
STAGE_SIDES = {"proxy_stage": "proxy", "no_proxy_stage": "no_proxy"}
REHEARSAL_TITLE = "Local rehearsal: MariaDB on this machine, no RDS Proxy, no AWS"
REHEARSAL_LABEL = (
    "Local rehearsal, not a measurement of RDS Proxy: both paths (proxy and noproxy) reach one MariaDB on "
    "this machine directly; there is no RDS Proxy, no Aurora and no API Gateway here. It rehearses the flow; "
    "run the load test on AWS to see what the proxy buys."
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
    defaults = Settings.model_fields
    parser.add_argument("--mode", choices=CONNECTION_MODES, default=defaults["access_connection_mode"].default)
    parser.add_argument(
        "--runtime",
        choices=get_args(AccessRuntime),
        default=defaults["access_function_runtime"].default,
        help="the access function's runtime on both stages",
    )
    parser.add_argument(
        "--proxy-kept",
        type=int,
        default=defaults["proxy_side_max_kept_connections"].default,
        help="tenant connections a proxy_stage instance keeps",
    )
    parser.add_argument(
        "--no-proxy-kept",
        type=int,
        default=defaults["no_proxy_side_max_kept_connections"].default,
        help="tenant connections a no_proxy_stage instance keeps",
    )
    parser.add_argument("--concurrency", type=int, default=10, help="instances Lambda may run per stage")
    parser.add_argument("--db-max-connections", type=int, default=100, help="MariaDB's max_connections (10 or more)")
    parser.add_argument(
        "--db-latency-ms", type=float, default=DB_LATENCY_MS, help="round trip added between functions and MariaDB"
    )
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


def stage_specs(options: argparse.Namespace) -> list[StageSpec]:
    specs = []
    for stage, side in STAGE_SIDES.items():
        kept = options.proxy_kept if side == "proxy" else options.no_proxy_kept
        policy = ConnectionPolicy(mode=options.mode, max_kept=kept)
        specs.append(StageSpec(stage, side, policy, options.concurrency, options.runtime))
    return specs


def print_scaling(deployment: LocalDeployment) -> None:
    """What Lambda's model and the server saw: instances, throttles, and the connection peaks."""
    for name, pool in deployment.pools.items():
        stats = pool.stats
        print(
            f"{name}: {stats.invocations} invocations, {stats.cold_starts} cold starts, peak {stats.peak_concurrency} "
            f"concurrent (limit {pool.concurrency}), {stats.throttled} throttled, {stats.failed} failed; "
            f"instances ran {', '.join(sorted(stats.runtimes)) or 'nothing'}"
        )
    samples = deployment.sampler.samples
    peak = max(s.values["Threads_connected"] for s in samples)
    first, last = samples[0].values, samples[-1].values
    refused = last["Connection_errors_max_connections"] - first["Connection_errors_max_connections"]
    logins = last["Connections"] - first["Connections"]
    print(
        f"MariaDB: peak {peak} connections (max_connections {deployment.server.max_connections}), "
        f"{logins} logins, {refused} refused as too many"
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    with (
        tempfile.TemporaryDirectory(prefix="rehearsal-") as scratch,
        local_deployment(
            Path(scratch), options.tenants, stage_specs(options), options.db_max_connections, options.db_latency_ms
        ) as deployment,
    ):
        print(f"seeded {options.tenants} tenants into MariaDB on {deployment.server.host}:{deployment.server.port}")
        print(f"local API on {deployment.api.url}; Locust: {options.users} users for {options.run_time}")
        exit_code = run_locust(deployment.api.url, options)
        deployment.api.write_access_log(options.report_dir / report.ACCESS_LOG)
        print_scaling(deployment)
    deployment.sampler.write_csv(options.report_dir / report.DB_SAMPLES)  # its last sample: after the stop
    label_report(options.report_dir / "rehearsal.html")
    print_summary(summary(options.report_dir / "rehearsal_stats.csv"))
    (options.report_dir / report.RUN_INFO).write_text(json.dumps({"title": REHEARSAL_TITLE, "note": REHEARSAL_LABEL}))
    run = report.load_run(options.report_dir)
    print("as the local API saw them (it also counts requests Locust abandoned when it stopped):")
    for verdict in report.verdicts(run):
        print(f"  {verdict.line}")
    print(f"reports: {options.report_dir}/rehearsal.html, rehearsal.json, rehearsal_*.csv")
    print(f"comparison report: {report.write_report(run, options.report_dir)}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
