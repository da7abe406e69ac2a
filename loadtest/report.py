"""One load-test run on one page: proxy against no proxy over time, with a verdict per path.

    pipenv run python -m loadtest.report RUN_DIR            (make report RUN=RUN_DIR)

A run directory is what the rehearsal writes (its API access log and the database samples), or an
unattended AWS run's reports with the CloudWatch metrics of its window (``loadtest.cloudwatch_run``
adds them as ``cloudwatch.json``). The page (``report.html`` in the run directory) holds PNG charts
drawn with matplotlib, per path over time: requests per second, failures per minute by status,
p50 and p95 latency, and the database connections; then a table with one line of verdict per path.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

PATHS = ("proxy", "noproxy")  # Locust's request names, one per API stage (loadtest/locustfile.py)
STAGE_OF_PATH = {"proxy": "proxy_stage", "noproxy": "no_proxy_stage"}
MINUTE = 60
LOCAL_BUCKET_SECONDS = 10  # rehearsals last seconds to minutes
REPORT_FILE = "report.html"
ACCESS_LOG = "rehearsal_requests.csv"  # the local API's access log: one row per request
DB_SAMPLES = "rehearsal_db.csv"
CLOUDWATCH = "cloudwatch.json"
RUN_INFO = "run.json"  # what the run was: title and a note the page shows
LOCUST_HISTORY = "_stats_history.csv"


@dataclass(frozen=True)
class Request:
    """One request as the API saw it."""

    time: float  # epoch seconds
    path: str  # "proxy" or "noproxy"
    status: int
    latency_ms: float


@dataclass
class Bucket:
    """One interval of one path (a minute on AWS, ten seconds in a rehearsal)."""

    index: int  # intervals since the run started
    requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # by status ("503", or "5XX" from CloudWatch)
    p50_ms: float | None = None
    p95_ms: float | None = None


@dataclass
class RunData:
    title: str
    note: str
    start: float  # epoch seconds
    bucket_seconds: int
    paths: dict[str, list[Bucket]]
    connections: dict[str, list[tuple[float, float]]]  # series name -> (seconds since start, value)

    def minute_of(self, bucket: Bucket) -> float:
        return bucket.index * self.bucket_seconds / MINUTE


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def buckets_from_requests(requests: Iterable[Request], start: float, seconds: int) -> dict[str, list[Bucket]]:
    """Per path and interval: count, failures by status (anything but 2xx), median and 95th percentile."""
    grouped: dict[str, dict[int, list[Request]]] = {path: defaultdict(list) for path in PATHS}
    for request in requests:
        grouped.setdefault(request.path, defaultdict(list))[int((request.time - start) // seconds)].append(request)
    paths = {}
    for path, minutes in grouped.items():
        buckets = []
        for minute in range(max(minutes, default=-1) + 1):
            inside = minutes.get(minute, [])
            latencies = [r.latency_ms for r in inside]
            buckets.append(
                Bucket(
                    minute,
                    len(inside),
                    Counter(str(r.status) for r in inside if not 200 <= r.status < 300),
                    statistics.median(latencies) if latencies else None,
                    percentile(latencies, 0.95) if latencies else None,
                )
            )
        paths[path] = buckets
    return paths


def read_access_log(path: Path) -> list[Request]:
    """The local API's access log (time, stage, status, latency_ms), each stage as Locust names its path."""
    path_of_stage = {stage: path for path, stage in STAGE_OF_PATH.items()}
    with path.open(newline="") as handle:
        return [
            Request(float(row["time"]), path_of_stage[row["stage"]], int(row["status"]), float(row["latency_ms"]))
            for row in csv.DictReader(handle)
        ]


def read_db_samples(path: Path, start: float) -> dict[str, list[tuple[float, float]]]:
    """The server's connections over time, from the rehearsal's sampler."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "MariaDB connections (Threads_connected)": [
            (float(row["time"]) - start, float(row["Threads_connected"])) for row in rows
        ],
    }


def from_rehearsal(run: Path, title: str, note: str) -> RunData:
    requests = read_access_log(run / ACCESS_LOG)
    start = min((r.time for r in requests), default=0.0)
    connections = read_db_samples(run / DB_SAMPLES, start) if (run / DB_SAMPLES).exists() else {}
    paths = buckets_from_requests(requests, start, LOCAL_BUCKET_SECONDS)
    return RunData(title, note, start, LOCAL_BUCKET_SECONDS, paths, connections)


# ---- verdicts --------------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    """m:ss since the run started."""
    return f"{int(seconds // MINUTE)}:{int(seconds % MINUTE):02d}"


@dataclass(frozen=True)
class PathVerdict:
    path: str
    requests: int
    failures: Counter[str]
    failing_from: float | None  # seconds since the start: the first failing interval's start
    failing_until: float | None  # and the last one's end
    p50_ms: float | None  # median of the per-interval medians
    peak_p95_ms: float | None

    @property
    def line(self) -> str:
        name = {"proxy": "proxy", "noproxy": "no proxy"}.get(self.path, self.path)
        total = sum(self.failures.values())
        if not total:
            return f"{name}: 0 failures in {self.requests} requests"
        statuses = ", ".join(f"{count} x {status}" for status, count in sorted(self.failures.items()))
        when = f"between {clock(self.failing_from)} and {clock(self.failing_until)}"
        return f"{name}: {total} failures ({statuses}) {when}, of {self.requests} requests"


def verdicts(run: RunData) -> list[PathVerdict]:
    result = []
    for path in PATHS:
        buckets = run.paths.get(path, [])
        failing = [b.index for b in buckets if sum(b.failures.values())]
        medians = [b.p50_ms for b in buckets if b.p50_ms is not None]
        p95s = [b.p95_ms for b in buckets if b.p95_ms is not None]
        result.append(
            PathVerdict(
                path,
                sum(b.requests for b in buckets),
                sum((b.failures for b in buckets), Counter()),
                failing[0] * run.bucket_seconds if failing else None,
                (failing[-1] + 1) * run.bucket_seconds if failing else None,
                statistics.median(medians) if medians else None,
                max(p95s) if p95s else None,
            )
        )
    return result


# ---- charts and page --------------------------------------------------------------------------------


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def charts(run: RunData) -> dict[str, bytes]:
    """Chart title -> PNG."""
    colours = {"proxy": "tab:blue", "noproxy": "tab:orange"}
    per_minute = MINUTE / run.bucket_seconds
    made = {}

    figure, axes = plt.subplots(figsize=(9, 3.2))
    for path, buckets in run.paths.items():
        axes.plot(
            [run.minute_of(b) for b in buckets],
            [b.requests / run.bucket_seconds for b in buckets],
            label=path,
            color=colours.get(path),
            marker="o",
        )
    axes.set(xlabel="minute of the run", ylabel="requests / s")
    axes.legend()
    made["Requests per second"] = _png(figure)

    figure, axes = plt.subplots(figsize=(9, 3.2))
    width = run.bucket_seconds / MINUTE * 0.4
    for offset, (path, buckets) in zip((0.0, width), run.paths.items(), strict=False):
        bottom = [0.0] * len(buckets)
        for status in sorted({s for b in buckets for s in b.failures}):
            rates = [b.failures.get(status, 0) * per_minute for b in buckets]
            axes.bar(
                [run.minute_of(b) + offset for b in buckets],
                rates,
                width,
                bottom=bottom,
                align="edge",
                label=f"{path} {status}",
            )
            bottom = [x + y for x, y in zip(bottom, rates, strict=True)]
    axes.set(xlabel="minute of the run", ylabel="failures per minute")
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    made["Failures per minute, by status"] = _png(figure)

    figure, axes = plt.subplots(figsize=(9, 3.2))
    for path, buckets in run.paths.items():
        timed = [b for b in buckets if b.p50_ms is not None]
        minutes = [run.minute_of(b) for b in timed]
        axes.plot(minutes, [b.p50_ms for b in timed], label=f"{path} p50", color=colours.get(path))
        axes.plot(minutes, [b.p95_ms for b in timed], label=f"{path} p95", color=colours.get(path), linestyle="--")
    axes.set(xlabel="minute of the run", ylabel="latency (ms)")
    axes.legend()
    made["Latency, p50 and p95"] = _png(figure)

    if run.connections:
        figure, axes = plt.subplots(figsize=(9, 3.2))
        for name, points in run.connections.items():
            axes.plot([t / MINUTE for t, _ in points], [v for _, v in points], label=name)
        axes.set(xlabel="minute of the run", ylabel="connections")
        axes.legend()
        made["Database connections"] = _png(figure)
    return made


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def html_page(run: RunData) -> str:
    rows = "".join(
        f"<tr><td>{escape(v.path)}</td><td>{v.requests}</td><td>{sum(v.failures.values())}</td>"
        f"<td>{_ms(v.p50_ms)}</td><td>{_ms(v.peak_p95_ms)}</td><td>{escape(v.line)}</td></tr>"
        for v in verdicts(run)
    )
    images = "".join(
        f'<h2>{escape(title)}</h2><img alt="{escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}">'
        for title, png in charts(run).items()
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(run.title)}</title></head>'
        f'<body style="font:15px sans-serif;max-width:960px;margin:auto"><h1>{escape(run.title)}</h1>'
        f'<p id="run-note">{escape(run.note)}</p>'
        '<table id="verdicts" border="1" cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>path</th><th>requests</th><th>failures</th><th>median of interval medians (ms)</th>"
        f"<th>worst interval p95 (ms)</th><th>verdict</th></tr>{rows}</table>{images}</body></html>"
    )


def write_report(run: RunData, directory: Path) -> Path:
    target = directory / REPORT_FILE
    target.write_text(html_page(run))
    return target


def load_run(directory: Path) -> RunData:
    """Whatever the directory holds: a rehearsal, or an AWS run with its CloudWatch metrics."""
    if (directory / ACCESS_LOG).exists():
        about = json.loads((directory / RUN_INFO).read_text()) if (directory / RUN_INFO).exists() else {}
        return from_rehearsal(directory, about.get("title", "Load test run"), about.get("note", ""))
    if (directory / CLOUDWATCH).exists():
        from loadtest.cloudwatch_run import from_aws_run

        return from_aws_run(directory)
    raise SystemExit(
        f"{directory} holds neither a rehearsal ({ACCESS_LOG}) nor an AWS run with {CLOUDWATCH}; "
        "run `make report RUN=<dir>` with AWS credentials on an unattended run's downloaded reports"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the run's report directory")
    parser.add_argument("--outputs", type=Path, help="AWS run: a saved `terraform output -json` of the main stack")
    parser.add_argument("--region", help="AWS run: CloudWatch's region (default: the AWS SDK's)")
    parser.add_argument(
        "--from-bucket",
        action="store_true",
        help="AWS run: fetch the newest unattended run from load_test_reports_bucket into RUN, and put the page "
        "back next to its reports",
    )
    options = parser.parse_args(argv)
    if options.from_bucket:
        options.run.mkdir(parents=True, exist_ok=True)
    if not options.run.is_dir():
        parser.error(f"{options.run} is not a directory")
    first_look = not (options.run / ACCESS_LOG).exists() and not (options.run / CLOUDWATCH).exists()
    if options.from_bucket or first_look:  # an AWS run: its files, and its window's metrics kept once
        import boto3

        from loadtest import cloudwatch_run

        if not options.from_bucket:
            cloudwatch_run.history_file(options.run)  # refuse a directory that holds no run before asking AWS
        outputs = cloudwatch_run.stack_outputs(options.outputs)
        s3 = boto3.client("s3", region_name=options.region)
        bucket = str(outputs["load_test_reports_bucket"]) if options.from_bucket else ""
        if options.from_bucket:
            prefix = cloudwatch_run.download_latest_run(s3, bucket, options.run)
        if not (options.run / CLOUDWATCH).exists():
            cloudwatch_run.save(options.run, outputs, options.region)
    run = load_run(options.run)
    target = write_report(run, options.run)
    for verdict in verdicts(run):
        print(verdict.line)
    print(f"report: {target}")
    if options.from_bucket:
        cloudwatch_run.upload_report(s3, bucket, prefix, [target, options.run / CLOUDWATCH])
    return 0


if __name__ == "__main__":
    sys.exit(main())
