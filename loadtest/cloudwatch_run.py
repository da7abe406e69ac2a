"""An AWS load-test run for the report: Locust's statistics plus CloudWatch's metrics of the run's window.

    make report RUN=RUN_DIR [REPORT_ARGS="--outputs outputs.json --region eu-west-1"]

RUN_DIR holds an unattended run's reports, downloaded from ``load_test_reports_bucket`` (Locust's
``locust_stats_history.csv`` gives the window and each path's requests and latency). This reads,
with GetMetricData, one-minute metrics of that window: API 4XX / 5XX / Count per stage, each access
function's concurrency, errors and throttles, each cluster's readers' DatabaseConnections and
CPUUtilization, and each proxy's ClientConnections and DatabaseConnections; writes them to
``cloudwatch.json`` next to the Locust files; and ``make report`` draws the page from both. The
names come from the main stack's outputs (``terraform output -json``, or ``--outputs``).
"""

from __future__ import annotations

import csv
import datetime
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtest.report import CLOUDWATCH, LOCUST_HISTORY, MINUTE, PATHS, STAGE_OF_PATH, Bucket, RunData

REPORTS_PREFIX = "reports/"  # the unattended primary copies its files to reports/<host>/ (constructs_lib/load_test.py)

SIDE_OF_PATH = {"proxy": "proxy", "noproxy": "no_proxy"}
MAX_QUERIES = 500  # GetMetricData's limit per call


@dataclass(frozen=True)
class Query:
    id: str  # GetMetricData's: lower-case first letter, letters, digits and underscores
    label: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    stat: str

    def request(self) -> dict:
        return {
            "Id": self.id,
            "Label": self.label,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions.items()],
                },
                "Period": MINUTE,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


def queries(outputs: Mapping[str, object]) -> list[Query]:
    """What the report draws, named from the stack's outputs (``terraform output -json`` values)."""
    api = str(outputs["api_name"])
    made = []
    for path in PATHS:
        stage, side = STAGE_OF_PATH[path], SIDE_OF_PATH[path]
        for metric in ("Count", "4XXError", "5XXError"):
            made.append(
                Query(
                    f"api_{metric.lower()}_{side}",
                    f"{path} API {metric}",
                    "AWS/ApiGateway",
                    metric,
                    {"ApiName": api, "Stage": stage},
                    "Sum",
                )
            )
        function = {"FunctionName": str(outputs[f"{side}_access_function_name"])}
        for metric, stat in (("ConcurrentExecutions", "Maximum"), ("Errors", "Sum"), ("Throttles", "Sum")):
            made.append(
                Query(f"fn_{metric.lower()}_{side}", f"{path} function {metric}", "AWS/Lambda", metric, function, stat)
            )
        readers = {"DBClusterIdentifier": str(outputs[f"{side}_cluster_id"]), "Role": "READER"}
        for metric in ("DatabaseConnections", "CPUUtilization"):
            made.append(
                Query(
                    f"readers_{metric.lower()}_{side}",
                    f"{path} readers {metric}",
                    "AWS/RDS",
                    metric,
                    readers,
                    "Average",
                )
            )
    for index, proxy in enumerate(outputs.get("proxy_proxy_names") or []):
        for metric in ("ClientConnections", "DatabaseConnections"):
            made.append(
                Query(
                    f"proxy{index}_{metric.lower()}",
                    f"proxy {proxy} {metric}",
                    "AWS/RDS",
                    metric,
                    {"ProxyName": str(proxy)},
                    "Average",
                )
            )
    return made


def fetch(cloudwatch, wanted: Sequence[Query], start: float, end: float) -> dict:
    """Every series of the window, one point per minute, as ``cloudwatch.json`` holds them."""
    series: dict[str, dict] = {q.id: {"label": q.label, "points": {}} for q in wanted}
    for first in range(0, len(wanted), MAX_QUERIES):
        token = None
        while True:
            arguments = {
                "MetricDataQueries": [q.request() for q in wanted[first : first + MAX_QUERIES]],
                "StartTime": datetime.datetime.fromtimestamp(start, datetime.UTC),
                "EndTime": datetime.datetime.fromtimestamp(end + MINUTE, datetime.UTC),
                "ScanBy": "TimestampAscending",
            }
            if token:
                arguments["NextToken"] = token
            answer = cloudwatch.get_metric_data(**arguments)
            for result in answer["MetricDataResults"]:
                points = series[result["Id"]]["points"]
                for timestamp, value in zip(result["Timestamps"], result["Values"], strict=True):
                    points[str(int(timestamp.timestamp()))] = value
            token = answer.get("NextToken")
            if not token:
                break
    return {"start": start, "end": end, "series": series}


# ---- the run, from Locust's history and the metrics --------------------------------------------------


def history_file(directory: Path) -> Path:
    found = sorted(directory.glob(f"*{LOCUST_HISTORY}"))
    if not found:
        raise SystemExit(f"{directory} has no Locust statistics history (*{LOCUST_HISTORY})")
    return found[0]


def read_history(path: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = defaultdict(list)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]].append(row)
    return rows


def window(history: Mapping[str, list[dict]]) -> tuple[float, float]:
    times = [float(row["Timestamp"]) for rows in history.values() for row in rows]
    return min(times), max(times)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def locust_buckets(rows: Sequence[dict], start: float) -> list[Bucket]:
    """Requests per minute (from the running total) and the minute's p50 / p95 (Locust's current values)."""
    minutes: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        minutes[int((float(row["Timestamp"]) - start) // MINUTE)].append(row)
    buckets, total_before = [], 0
    for minute in range(max(minutes, default=-1) + 1):
        inside = minutes.get(minute, [])
        total = max((int(row["Total Request Count"]) for row in inside), default=total_before)
        p50 = [v for row in inside if (v := _number(row["50%"]))]
        p95 = [v for row in inside if (v := _number(row["95%"]))]
        buckets.append(
            Bucket(
                minute,
                total - total_before,
                Counter(),
                statistics.median(p50) if p50 else None,
                statistics.median(p95) if p95 else None,
            )
        )
        total_before = total
    return buckets


def per_minute(points: Mapping[str, float], start: float) -> dict[int, float]:
    return {int((int(t) - start) // MINUTE): v for t, v in points.items()}


def from_aws_run(directory: Path) -> RunData:
    history = read_history(history_file(directory))
    start, _ = window(history)
    metrics = json.loads((directory / CLOUDWATCH).read_text())["series"]
    paths = {}
    for path in PATHS:
        buckets = locust_buckets(history.get(path, []), start)
        side = SIDE_OF_PATH[path]
        for status in ("4XX", "5XX"):
            for minute, count in per_minute(metrics[f"api_{status.lower()}error_{side}"]["points"], start).items():
                while minute >= len(buckets):
                    buckets.append(Bucket(len(buckets)))
                if count:
                    buckets[minute].failures[status] += int(count)
        paths[path] = buckets
    connections = {}
    for key, series in metrics.items():
        if "databaseconnections" in key or "clientconnections" in key:
            connections[series["label"]] = sorted((int(t) - start, v) for t, v in series["points"].items())
    title = "Load test on AWS: proxy_stage (RDS Proxy) against no_proxy_stage (Aurora readers)"
    note = (
        "Requests and latency from Locust's statistics history; failures by status class from API Gateway's "
        "4XXError and 5XXError per stage; connections from CloudWatch (readers' average per minute, RDS Proxy's "
        "client and database connections)."
    )
    return RunData(title, note, start, MINUTE, paths, connections)


def stack_outputs(outputs_file: Path | None) -> dict[str, object]:
    """``terraform output -json`` of the main stack, reduced to values."""
    if outputs_file is not None:
        raw = json.loads(outputs_file.read_text())
    else:
        from constructs_lib.stack_names import MAIN_STACK
        from constructs_lib.workflow import terraform

        directory = terraform.ROOT / "cdktf.out" / "stacks" / MAIN_STACK
        raw = json.loads(terraform.check(terraform.run(["output", "-json"], directory, terraform.cli_config())))
    return {
        name: entry["value"] if isinstance(entry, dict) and "value" in entry else entry for name, entry in raw.items()
    }


def save(run: Path, outputs: Mapping[str, object], region: str | None) -> Path:
    """Read the run's window from CloudWatch and keep it next to the Locust files."""
    import boto3

    start, end = window(read_history(history_file(run)))
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    answer = fetch(cloudwatch, queries(outputs), start, end)
    (run / CLOUDWATCH).write_text(json.dumps(answer, indent=1))
    print(f"wrote {run / CLOUDWATCH}: {len(answer['series'])} series")
    return run / CLOUDWATCH


# ---- the reports bucket: where unattended runs leave their files, and where the page joins them --------


def download_latest_run(s3, bucket: str, directory: Path) -> str:
    """Copy the newest unattended run's files (``reports/<host>/``) into ``directory``; return its prefix."""
    histories = [
        item
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=REPORTS_PREFIX)
        for item in page.get("Contents", [])
        if item["Key"].endswith(LOCUST_HISTORY)
    ]
    if not histories:
        raise SystemExit(f"s3://{bucket}/{REPORTS_PREFIX} holds no unattended run (no *{LOCUST_HISTORY})")
    prefix = max(histories, key=lambda item: item["LastModified"])["Key"].rsplit("/", 1)[0] + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix) :]
            if name and "/" not in name:
                s3.download_file(bucket, item["Key"], str(directory / name))
    print(f"downloaded s3://{bucket}/{prefix} to {directory}")
    return prefix


def upload_report(s3, bucket: str, prefix: str, files: Sequence[Path]) -> None:
    """Put the page (and the metrics it was drawn from) next to the run's other reports."""
    for path in files:
        s3.upload_file(str(path), bucket, f"{prefix}{path.name}")
        print(f"uploaded s3://{bucket}/{prefix}{path.name}")
