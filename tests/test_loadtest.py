"""The Locust users (unit), and the local rehearsal of the whole flow (end to end on MariaDB)."""

from __future__ import annotations

import csv
import json
import os
import random
import re
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
            "6s",
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
        assert entry["num_requests"] > 0 and entry["num_failures"] == 0  # instances start cold: few in 6 s
    html = (tmp_path / "rehearsal.html").read_text()
    assert "there is no RDS Proxy" in result.stdout and 'id="rehearsal-label"' in html and "no RDS Proxy" in html
    # Every file and the printed summary tell the same counts (Locust's CSV used to miss the last second).
    printed = {
        line.split()[0]: (int(line.split()[1]), int(line.split()[2]))
        for line in result.stdout.splitlines()
        if line.split()[:1] in (["proxy"], ["noproxy"])
    }
    with (tmp_path / "rehearsal_stats.csv").open(newline="") as handle:
        in_csv = {row["Name"]: (int(row["Request Count"]), int(row["Failure Count"])) for row in csv.DictReader(handle)}
    template = json.loads(re.search(r"window\.templateArgs = (\{.*?\})\s*\n", html, re.S).group(1))
    in_html = {row["name"]: (row["num_requests"], row["num_failures"]) for row in template["requests_statistics"]}
    in_json = {name: (entry["num_requests"], entry["num_failures"]) for name, entry in stats.items()}
    for path in ("proxy", "noproxy"):
        assert printed[path] == in_csv[path] == in_html[path] == in_json[path], path


def test_rehearsal_runs_the_blogs_per_request_function_on_both_stages(mariadb_installed, tmp_path):
    result, stats = rehearse(tmp_path, "--mode", "per_request")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for entry in stats.values():
        assert entry["num_requests"] > 0 and entry["num_failures"] == 0  # instances start cold: few in 6 s
    # Nothing kept between requests: every request the API saw was a new login on the server.
    with (tmp_path / "rehearsal_requests.csv").open(newline="") as handle:
        answered = sum(1 for row in csv.DictReader(handle) if row["status"] == "200")
    with (tmp_path / "rehearsal_db.csv").open(newline="") as handle:
        samples = list(csv.DictReader(handle))
    logins = int(samples[-1]["Connections"]) - int(samples[0]["Connections"])
    assert logins >= answered
    assert "comparison report: " in result.stdout and (tmp_path / "report.html").exists()


def test_rehearsal_runs_the_nodejs_function_on_both_stages(mariadb_installed, tmp_path):
    """The packaged Node.js function behind both stages, as Lambda's model runs it: every instance says so."""
    result, stats = rehearse(tmp_path, "--runtime", "nodejs")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ("proxy_stage", "no_proxy_stage"):
        assert re.search(rf"^{stage}: .*; instances ran nodejs$", result.stdout, re.MULTILINE), result.stdout
    for path in ("proxy", "noproxy"):
        assert stats[path]["num_requests"] > 0 and stats[path]["num_failures"] == 0


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


# ---- the web UI: never without a login ------------------------------------------------------------


def start_ui(env_overrides: dict):
    from loadtest.local.processes import free_port

    port = free_port()
    env = {
        **os.environ,
        "LOCUST_WEB_HOST": "127.0.0.1",
        "LOCUST_WEB_PORT": str(port),
        "LOCUST_HOST": "http://127.0.0.1:9",
        **env_overrides,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def test_the_web_ui_refuses_to_start_without_a_login():
    process, _ = start_ui({})
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "refusing to serve the Locust web UI without --web-login" in output


def test_the_web_ui_serves_nothing_before_the_operator_signs_in():
    import requests

    from loadtest.local.processes import stop_process

    process, url = start_ui({"LOCUST_WEB_LOGIN": "true", "LOCUST_UI_PASSWORD": "a-generated-password"})
    try:
        browser = requests.Session()
        deadline = time.monotonic() + 30
        while True:
            try:
                first = browser.get(f"{url}/", allow_redirects=False, timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None, "the UI did not start"
                time.sleep(0.2)
        assert first.status_code == 302 and "/login" in first.headers["Location"]
        assert browser.get(f"{url}/stats/requests", allow_redirects=False, timeout=5).status_code in (302, 401)
        wrong = {"username": "locust", "password": "guess"}
        browser.post(f"{url}/login_submit", data=wrong, allow_redirects=False, timeout=5)
        assert browser.get(f"{url}/", allow_redirects=False, timeout=5).status_code == 302
        right = {"username": "locust", "password": "a-generated-password"}
        assert browser.post(f"{url}/login_submit", data=right, allow_redirects=False, timeout=5).status_code == 302
        assert browser.get(f"{url}/", allow_redirects=False, timeout=5).status_code == 200
        assert browser.get(f"{url}/stats/requests", timeout=5).status_code == 200
    finally:
        stop_process(process)


def test_the_ui_password_is_made_once_and_kept_in_secrets_manager(monkeypatch):
    import boto3
    from moto import mock_aws

    monkeypatch.delenv("LOCUST_UI_PASSWORD", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(Name="tenantdb-locust/ui-password")["ARN"]
        monkeypatch.setenv("LOCUST_UI_SECRET_ID", secret)
        first = locustfile.ui_password()
        assert len(first) >= 32 and locustfile.ui_password() == first
        stored = boto3.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
        assert stored == first


def test_make_locust_ui_forwards_the_primarys_port_and_reads_the_password(monkeypatch):
    import boto3
    from moto import mock_aws

    from loadtest import ui

    command = ui.port_forwarding("i-0123456789abcdef0", "eu-west-1")
    assert command[:3] == ["aws", "ssm", "start-session"] and "AWS-StartPortForwardingSession" in command
    assert json.loads(command[-1]) == {"portNumber": ["8089"], "localPortNumber": ["8089"]}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = client.create_secret(Name="tenantdb-locust/ui-password", SecretString="made-by-the-primary")["ARN"]
        assert ui.ui_password(arn, "eu-west-1") == "made-by-the-primary"


# ---- what the instances install: hash-locked ------------------------------------------------------


def pip_install_lock(venv, lock):
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--require-hashes",
         "--only-binary=:all:", "--no-deps", "-r", str(lock)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_the_instances_install_locust_from_the_hash_locked_requirements_only(tmp_path):
    """What bootstrap.sh runs on the instances (CPython 3.11, x86_64: like this machine)."""
    from constructs_lib.load_test import REQUIREMENTS_LOCK
    from constructs_lib.settings import Settings
    from loadtest.lock import pinned_version

    lines = [line for line in REQUIREMENTS_LOCK.read_text().splitlines() if not line.startswith("#")]
    assert lines and all(re.fullmatch(r"[\w.-]+==[\w.+-]+ --hash=sha256:[0-9a-f]{64}", line) for line in lines)
    assert pinned_version("locust") == Settings().locust_version
    installed = pip_install_lock(tmp_path / "venv", REQUIREMENTS_LOCK)
    assert installed.returncode == 0, installed.stderr[-2000:]
    version = subprocess.run([str(tmp_path / "venv" / "bin" / "locust"), "--version"], capture_output=True, text=True)
    assert Settings().locust_version in version.stdout + version.stderr
    tampered = tmp_path / "tampered.lock"
    tampered.write_text(
        re.sub(r"(locust==\S+ --hash=sha256:)[0-9a-f]{64}", r"\g<1>" + "0" * 64, REQUIREMENTS_LOCK.read_text())
    )
    refused = pip_install_lock(tmp_path / "venv2", tampered)
    assert refused.returncode != 0 and "DO NOT MATCH THE HASHES" in refused.stderr
