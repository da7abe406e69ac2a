"""Locust users comparing the Proxy and No Proxy paths of the access API.

Each user repeatedly picks a random tenant in 0..N-1 and, with equal probability, the Proxy or the
No Proxy stage, calls it, checks the answer, and waits. Requests are named ``proxy`` and
``noproxy`` so every report shows the two paths as separate rows. Self-contained on purpose: the
load-test instances run this very file with nothing else of the project.

Options (command line, or environment as LOCUST_<OPTION>): --tenant-count, --wait-min,
--wait-max, and for unattended runs --max-failure-ratio and --max-p95-ms, which make Locust exit
with code 1 when broken.

The web UI is never served without a login: Locust refuses to start a UI without ``--web-login``,
and the one operator (user ``locust``) signs in with the password in ``LOCUST_UI_PASSWORD`` or, on
AWS, in the Secrets Manager secret ``LOCUST_UI_SECRET_ID`` names, which the primary generates at its
first start (so it is never in Terraform's state).
"""

from __future__ import annotations

import hmac
import json
import os
import random
import secrets

import gevent
from flask import Blueprint, redirect, request, session, url_for
from flask_login import UserMixin, login_user
from locust import HttpUser, between, events, task
from locust.stats import CSV_STATS_INTERVAL_SEC

# Request name -> stage path on the API.
STAGES = {"proxy": "/proxy_stage/", "noproxy": "/no_proxy_stage/"}
ROWS_PER_ANSWER = 5


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument(
        "--tenant-count", type=int, env_var="LOCUST_TENANT_COUNT", default=200, help="tenants to pick from: 0..N-1"
    )
    parser.add_argument(
        "--wait-min",
        type=float,
        env_var="LOCUST_WAIT_MIN",
        default=5.0,
        help="shortest wait between a user's requests, seconds",
    )
    parser.add_argument(
        "--wait-max",
        type=float,
        env_var="LOCUST_WAIT_MAX",
        default=9.0,
        help="longest wait between a user's requests, seconds",
    )
    parser.add_argument(
        "--max-failure-ratio",
        type=float,
        env_var="LOCUST_MAX_FAILURE_RATIO",
        default=-1,
        help="exit 1 if the failure ratio ends above this (negative: no check)",
    )
    parser.add_argument(
        "--max-p95-ms",
        type=float,
        env_var="LOCUST_MAX_P95_MS",
        default=-1,
        help="exit 1 if the overall 95th percentile ends above this (negative: no check)",
    )


def choose_tenant(rng: random.Random, tenant_count: int) -> int:
    return rng.randrange(tenant_count)


def choose_stage(rng: random.Random) -> str:
    return rng.choice(sorted(STAGES))


def answer_problem(status: int, body: str) -> str | None:
    """Why an answer is not a success, or None: a non-2xx status or a body without 5 rows is a failure."""
    if not 200 <= status < 300:
        return f"HTTP {status}"
    try:
        rows = json.loads(body)["rows"]
    except (ValueError, KeyError, TypeError):
        return "malformed body"
    if not isinstance(rows, list) or len(rows) != ROWS_PER_ANSWER or not all(isinstance(r, dict) for r in rows):
        return "malformed body"
    return None


class TenantUser(HttpUser):
    def wait_time(self) -> float:
        options = self.environment.parsed_options
        return between(options.wait_min, options.wait_max)(self)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def read_random_tenant(self) -> None:
        tenant = choose_tenant(self.rng, self.environment.parsed_options.tenant_count)
        name = choose_stage(self.rng)
        with self.client.get(STAGES[name], params={"tenant": tenant}, name=name, catch_response=True) as response:
            problem = answer_problem(response.status_code, response.text)
            if problem:
                response.failure(problem)
            else:
                response.success()


UI_USER = "locust"


def ui_password() -> str:
    """The operator's password: given, or kept in Secrets Manager (made once, at the first start)."""
    given = os.environ.get("LOCUST_UI_PASSWORD")
    if given:
        return given
    secret_id = os.environ.get("LOCUST_UI_SECRET_ID")
    if not secret_id:
        raise RuntimeError("the web UI needs a password: set LOCUST_UI_PASSWORD or LOCUST_UI_SECRET_ID")
    import boto3  # only the UI on AWS needs it

    client = boto3.client("secretsmanager")
    try:
        stored = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        stored = ""  # the secret exists without a value until now
    if stored:
        return stored
    password = secrets.token_urlsafe(24)
    client.put_secret_value(SecretId=secret_id, SecretString=password)
    return password


class _Operator(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


@events.init.add_listener
def _protect_the_web_ui(environment, web_ui=None, **_) -> None:
    """Serve the UI only behind a login (an exception here stops Locust before it serves anything)."""
    if web_ui is None:
        return
    if not environment.parsed_options.web_login:
        raise RuntimeError("refusing to serve the Locust web UI without --web-login (LOCUST_WEB_LOGIN=true)")
    password = ui_password()
    web_ui.app.secret_key = secrets.token_hex(32)
    web_ui.login_manager.user_loader(lambda user_id: _Operator(user_id) if user_id == UI_USER else None)
    web_ui.auth_args = {"username_password_callback": "/login_submit"}
    login = Blueprint("operator_login", __name__)

    @login.route("/login_submit", methods=["POST"])
    def login_submit():
        user, given = request.form.get("username", ""), request.form.get("password", "")
        if hmac.compare_digest(user, UI_USER) and hmac.compare_digest(given.encode(), password.encode()):
            login_user(_Operator(UI_USER))
            return redirect(url_for("locust.index"))
        session["auth_error"] = "Invalid username or password"
        return redirect(url_for("locust.login"))

    web_ui.app.register_blueprint(login)


@events.test_stop.add_listener
def _let_the_csv_files_catch_up(environment, **_) -> None:
    """Locust rewrites its CSV statistics every CSV_STATS_INTERVAL_SEC and not again at the end, so
    requests of the last second were missing from the CSV files while the JSON and HTML reports had them.
    The users have stopped when this runs: waiting one more interval lets the writer record the final
    figures, so every report of a run shows the same numbers."""
    options = environment.parsed_options
    if options is not None and getattr(options, "csv_prefix", None):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.5)


@events.quitting.add_listener
def _enforce_thresholds(environment, **_) -> None:
    options, total = environment.parsed_options, environment.stats.total
    if options is None:
        return
    broken = []
    if options.max_failure_ratio >= 0 and total.fail_ratio > options.max_failure_ratio:
        broken.append(f"failure ratio {total.fail_ratio:.3f} > {options.max_failure_ratio}")
    p95 = total.get_response_time_percentile(0.95) or 0
    if options.max_p95_ms >= 0 and p95 > options.max_p95_ms:
        broken.append(f"p95 {p95:.0f} ms > {options.max_p95_ms:.0f} ms")
    if broken:
        print("thresholds broken: " + "; ".join(broken))
        environment.process_exit_code = 1
