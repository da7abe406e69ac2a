"""The Locust users (unit), and the local rehearsal of the whole flow (end to end on MariaDB)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.support.paths import ROOT

# Importing locust monkey-patches the standard library with gevent, which would break this test
# process (jsii talks to node over pipes). Only the locustfile's plain functions are tested here;
# the variable is removed again so the Locust processes the rehearsal starts patch as they must.
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
from loadtest import locustfile  # noqa: E402

del os.environ["LOCUST_SKIP_MONKEY_PATCH"]


def test_tenants_are_drawn_from_the_whole_range_and_nothing_outside():
    rng = random.Random(1)
    drawn = Counter(locustfile.choose_tenant(rng, 50) for _ in range(20_000))
    assert set(drawn) == set(range(50))


def test_paths_are_chosen_half_and_half():
    rng = random.Random(2)
    drawn = Counter(locustfile.choose_stage(rng) for _ in range(20_000))
    assert set(drawn) == {"proxy", "noproxy"}
    assert abs(drawn["proxy"] / 20_000 - 0.5) < 0.02


def test_requests_are_named_by_path_and_go_to_their_stage():
    assert locustfile.STAGES == {"proxy": "/proxy_stage/", "noproxy": "/no_proxy_stage/"}


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (200, json.dumps({"tenant": 1, "rows": [{"ID": i} for i in range(5)]}), None),
        (500, json.dumps({"error": "internal_error"}), "HTTP 500"),
        (400, json.dumps({"error": "invalid_tenant"}), "HTTP 400"),
        (302, "", "HTTP 302"),
        (200, "<html>not json</html>", "malformed body"),
        (200, json.dumps({"rows": [{"ID": 1}] * 4}), "malformed body"),
        (200, json.dumps({"rows": "five"}), "malformed body"),
        (200, json.dumps([1, 2, 3]), "malformed body"),
    ],
)
def test_non_2xx_or_malformed_answers_are_failures(status, body, problem):
    assert locustfile.answer_problem(status, body) == problem


def rehearse(tmp_path, *args):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.rehearsal",
            "--tenants",
            "30",
            "--users",
            "6",
            "--spawn-rate",
            "6",
            "--run-time",
            "4s",
            "--wait-min",
            "0.05",
            "--wait-max",
            "0.2",
            "--report-dir",
            str(tmp_path),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    stats = {entry["name"]: entry for entry in json.loads((tmp_path / "rehearsal.json").read_text())}
    return result, stats


def test_rehearsal_runs_clean_and_writes_its_reports(mariadb_installed, tmp_path):
    result, stats = rehearse(tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for report in ("rehearsal.html", "rehearsal.json", "rehearsal_stats.csv", "rehearsal_failures.csv"):
        assert (tmp_path / report).stat().st_size > 0
    assert set(stats) == {"proxy", "noproxy"}
    for entry in stats.values():
        assert entry["num_requests"] > 10 and entry["num_failures"] == 0
    assert "there is no RDS Proxy here" in result.stdout
    assert "proxy" in result.stdout and "noproxy" in result.stdout


def test_rehearsal_counts_failures_for_tenants_that_do_not_exist(mariadb_installed, tmp_path):
    result, stats = rehearse(tmp_path, "--locust-tenant-count", "60")  # half the tenants drawn are unknown
    assert result.returncode != 0
    for entry in stats.values():
        assert 0 < entry["num_failures"] < entry["num_requests"]
    assert "HTTP 400" in (tmp_path / "rehearsal_failures.csv").read_text()


def test_unattended_thresholds_turn_into_exit_code_1(mariadb_installed, tmp_path):
    result, stats = rehearse(tmp_path, "--max-p95-ms", "0.001")
    assert all(entry["num_failures"] == 0 for entry in stats.values())
    assert result.returncode == 1
    assert "thresholds broken: p95" in result.stdout + result.stderr


def test_a_headless_primary_gives_up_when_its_workers_never_come():
    """The unattended primary's environment, minus AWS: with no worker it must fail clearly, not wait forever."""
    from loadtest.local.processes import free_port

    env = {
        **os.environ,
        "LOCUST_MODE_MASTER": "true",
        "LOCUST_HEADLESS": "true",
        "LOCUST_EXPECT_WORKERS": "2",
        "LOCUST_EXPECT_WORKERS_MAX_WAIT": "2",
        "LOCUST_MASTER_BIND_HOST": "127.0.0.1",
        "LOCUST_MASTER_BIND_PORT": str(free_port()),
        "LOCUST_USERS": "1",
        "LOCUST_RUN_TIME": "30s",
        "LOCUST_HOST": "http://127.0.0.1:9",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Gave up waiting for workers to connect" in result.stderr + result.stdout
    assert time.monotonic() - started < 30
