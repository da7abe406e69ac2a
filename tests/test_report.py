"""`make report`: one run on one page, its numbers from the run's raw data, its charts real images.

Two known runs: a rehearsal (the local API's access log and the server samples) and an AWS run
(Locust's statistics history and CloudWatch metrics, read from moto's CloudWatch after the test
put them there). Nothing is timed.
"""

from __future__ import annotations

import ast
import base64
import csv
import datetime
import io
import json
import re
import time

import boto3
import matplotlib.image
import numpy
import pytest
from moto import mock_aws

from loadtest import cloudwatch_run, report
from tests.support.paths import ROOT

START = 1_790_000_000.0  # a fixed epoch second, so every minute boundary is known


def write_rehearsal(directory, failures, copies=1):
    """40 requests per path in each of three minutes, each sent ``copies`` times at once;
    ``failures``: (path, minute, status, count)."""
    rows = []
    for path in report.PATHS:
        for minute in range(3):
            for n in range(40):
                for _ in range(copies):
                    rows.append((START + minute * 60 + n, path, 200, (10.0 if path == "proxy" else 20.0) + n * copies))
    for path, minute, status, count in failures:
        indices = [
            i
            for i, row in enumerate(rows)
            if row[1] == path and int((row[0] - START) // 60) == minute and row[2] == 200
        ]
        for index in indices[:count]:
            rows[index] = (rows[index][0], path, status, 1.0)
    with (directory / report.ACCESS_LOG).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "stage", "status", "latency_ms"])
        writer.writerows((time, report.STAGE_OF_PATH[path], status, ms) for time, path, status, ms in rows)
    with (directory / report.DB_SAMPLES).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "Threads_connected"])
        writer.writerows([(START + second, 1 + second % 7) for second in range(0, 180, 1)])
    (directory / report.RUN_INFO).write_text(json.dumps({"title": "known run", "note": "made by the test"}))
    return rows


def images(html):
    return {
        title: base64.b64decode(data)
        for title, data in re.findall(r'<h2>([^<]+)</h2><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', html)
    }


def table(html):
    return [
        re.findall(r"<td>([^<]*)</td>", row)
        for row in re.findall(r"<tr>(<td>.*?)</tr>", html.split('id="verdicts"')[1].split("</table>")[0])
    ]


def has_colour(png, hex_colour):
    pixels = (matplotlib.image.imread(io.BytesIO(png))[:, :, :3] * 255).round().astype(int)
    wanted = numpy.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return bool((numpy.abs(pixels - wanted).sum(axis=2) <= 6).any())


def test_a_rehearsal_report_counts_what_the_access_log_holds(tmp_path):
    rows = write_rehearsal(tmp_path, [("noproxy", 1, 503, 7), ("noproxy", 2, 503, 5), ("noproxy", 2, 429, 1)])
    run = report.load_run(tmp_path)
    target = report.write_report(run, tmp_path)
    html = target.read_text()
    [proxy, noproxy] = table(html)
    assert proxy[:3] == ["proxy", str(sum(r[1] == "proxy" for r in rows)), "0"]
    assert noproxy[:3] == ["noproxy", "120", str(sum(r[1] == "noproxy" and r[2] != 200 for r in rows))]
    assert proxy[5] == "proxy: 0 failures in 120 requests"
    assert noproxy[5] == "no proxy: 13 failures (1 x 429, 12 x 503) between 1:00 and 2:10, of 120 requests"
    # From the log's latencies: proxy 10..49 ms over the first 40 s of every minute, ten per 10-s interval.
    assert float(proxy[3]) == pytest.approx(29.5) and float(proxy[4]) == pytest.approx(49.0)
    assert "known run" in html and "made by the test" in html


def test_the_charts_are_png_images_with_the_runs_data_drawn(tmp_path):
    write_rehearsal(tmp_path, [("noproxy", 1, 503, 7)])
    charts = images(report.write_report(report.load_run(tmp_path), tmp_path).read_text())
    assert set(charts) == {
        "Requests per second",
        "Failures per minute, by status",
        "Latency, p50 and p95",
        "Database connections",
    }
    for png in charts.values():
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and matplotlib.image.imread(io.BytesIO(png)).shape[1] > 300
    # Both paths' lines are drawn (matplotlib's first two colours), and the failures' bars.
    assert has_colour(charts["Requests per second"], "#1f77b4") and has_colour(charts["Requests per second"], "#ff7f0e")
    assert has_colour(charts["Failures per minute, by status"], "#1f77b4")  # the first (and only) bar series
    empty = tmp_path / "empty"
    empty.mkdir()
    write_rehearsal(empty, [])
    no_failures = images(report.write_report(report.load_run(empty), empty).read_text())
    assert not has_colour(no_failures["Failures per minute, by status"], "#1f77b4")
    # The lines are the data: the same timeline at twice the rate and latency draws another picture.
    busier = tmp_path / "busier"
    busier.mkdir()
    write_rehearsal(busier, [], copies=2)
    doubled = images(report.write_report(report.load_run(busier), busier).read_text())
    for title in ("Requests per second", "Latency, p50 and p95"):
        assert doubled[title] != no_failures[title], title


OUTPUTS = {
    "api_name": "t-access-api",
    "proxy_access_function_name": "t-proxy-access",
    "no_proxy_access_function_name": "t-no-proxy-access",
    "proxy_cluster_id": "t-proxy-cluster",
    "no_proxy_cluster_id": "t-no-proxy-cluster",
    "proxy_proxy_names": ["t-proxy-0"],
}


def write_locust_history(directory):
    """Locust's --csv-full-history rows: every 10 s per path, 50 requests per minute each."""
    with (directory / "locust_stats_history.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Timestamp", "User Count", "Type", "Name", "50%", "95%", "Total Request Count"])
        for second in range(0, 180, 10):
            for path, median in (("proxy", 12), ("noproxy", 30)):
                writer.writerow(
                    [int(START) + second, 20, "GET", path, median, median * 3, (second // 10 + 1) * 50 // 6]
                )


def put(cloudwatch, namespace, metric, dimensions, minute, value):
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": datetime.datetime.fromtimestamp(START + minute * 60 + 5, datetime.UTC),
                "Value": value,
            }
        ],
    )


def test_an_aws_run_reads_its_window_from_cloudwatch(tmp_path):
    write_locust_history(tmp_path)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        no_proxy_stage = {"ApiName": "t-access-api", "Stage": "no_proxy_stage"}
        put(cloudwatch, "AWS/ApiGateway", "5XXError", no_proxy_stage, 1, 9)
        put(cloudwatch, "AWS/ApiGateway", "5XXError", no_proxy_stage, 2, 3)
        put(cloudwatch, "AWS/ApiGateway", "4XXError", {"ApiName": "t-access-api", "Stage": "proxy_stage"}, 0, 0)
        readers = {"DBClusterIdentifier": "t-no-proxy-cluster", "Role": "READER"}
        for minute, value in enumerate((40, 380, 410)):
            put(cloudwatch, "AWS/RDS", "DatabaseConnections", readers, minute, value)
        put(cloudwatch, "AWS/RDS", "DatabaseConnections", {"ProxyName": "t-proxy-0"}, 1, 12)
        outputs = tmp_path / "outputs.json"  # as `terraform output -json` prints them
        outputs.write_text(
            json.dumps({k: {"sensitive": False, "type": "string", "value": v} for k, v in OUTPUTS.items()})
        )
        assert report.main([str(tmp_path), "--outputs", str(outputs), "--region", "us-east-1"]) == 0
    assert (tmp_path / report.CLOUDWATCH).exists() and (tmp_path / report.REPORT_FILE).exists()
    run = report.load_run(tmp_path)  # from the kept metrics: no AWS needed any more
    lines = {v.path: v.line for v in report.verdicts(run)}
    assert lines["noproxy"] == "no proxy: 12 failures (12 x 5XX) between 1:00 and 3:00, of 150 requests"
    assert lines["proxy"] == "proxy: 0 failures in 150 requests"
    assert [value for _, value in run.connections["noproxy readers DatabaseConnections"]] == [40, 380, 410]
    assert run.connections["proxy t-proxy-0 DatabaseConnections"] == [(60, 12)]  # CloudWatch's minute
    html = report.write_report(run, tmp_path).read_text()
    assert len(images(html)) == 4


def test_every_series_the_report_asks_cloudwatch_for_names_a_deployed_resource():
    asked = cloudwatch_run.queries(OUTPUTS)
    assert len({q.id for q in asked}) == len(asked)
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9_]*", q.id) for q in asked)  # GetMetricData's Id rule
    names = {v for q in asked for v in q.dimensions.values()} - {"READER", "proxy_stage", "no_proxy_stage"}
    flat = {v for value in OUTPUTS.values() for v in (value if isinstance(value, list) else [value])}
    assert names == flat


def test_a_directory_without_a_run_is_refused_with_what_it_needs(tmp_path):
    with pytest.raises(SystemExit, match="neither a rehearsal"):
        report.load_run(tmp_path)
    with pytest.raises(SystemExit, match="no Locust statistics history"):
        report.main([str(tmp_path)])


def test_the_reports_paths_are_the_locustfiles_request_names_and_stages():
    """The locustfile stays self-contained (it is embedded in the instances' user data): compare its text."""
    tree = ast.parse((ROOT / "loadtest" / "locustfile.py").read_text())
    [stages] = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "STAGES"
    ]
    assert {path: route.strip("/") for path, route in stages.items()} == report.STAGE_OF_PATH


def test_from_the_bucket_the_newest_run_is_fetched_and_its_page_put_back_next_to_it(tmp_path):
    """An unattended run leaves its files in reports/<host>/; the page joins them there."""
    source = tmp_path / "source"
    source.mkdir()
    write_locust_history(source)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="t-reports")
        # An older run under a name that sorts first: only its age may tell them apart.
        s3.put_object(Bucket="t-reports", Key="reports/ip-10-0-0-1/locust_stats_history.csv", Body=b"Timestamp\n")
        time.sleep(1.1)  # S3 keeps LastModified to the second
        for path in source.iterdir():
            s3.upload_file(str(path), "t-reports", f"reports/ip-10-2-2-7/{path.name}")
        s3.put_object(Bucket="t-reports", Key="reports/ip-10-2-2-7/locust.html", Body=b"<html></html>")
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        put(cloudwatch, "AWS/ApiGateway", "5XXError", {"ApiName": "t-access-api", "Stage": "no_proxy_stage"}, 1, 4)
        outputs = tmp_path / "outputs.json"
        outputs.write_text(
            json.dumps({k: {"value": v} for k, v in {**OUTPUTS, "load_test_reports_bucket": "t-reports"}.items()})
        )
        run = tmp_path / "run"
        assert report.main([str(run), "--from-bucket", "--outputs", str(outputs), "--region", "us-east-1"]) == 0
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="t-reports", Prefix="reports/ip-10-2-2-7/")["Contents"]}
        page = s3.get_object(Bucket="t-reports", Key="reports/ip-10-2-2-7/report.html")["Body"].read().decode()
    assert {"reports/ip-10-2-2-7/report.html", "reports/ip-10-2-2-7/cloudwatch.json"} <= keys
    assert (run / "locust.html").exists()  # the whole run came down
    assert "no proxy: 4 failures (4 x 5XX)" in page
