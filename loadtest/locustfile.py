"""Locust users comparing the Proxy and No Proxy paths of the access API.

Each user repeatedly picks a random tenant in 0..N-1 and, with equal probability, the Proxy or the
No Proxy stage, calls it, checks the answer, and waits. Requests are named ``proxy`` and
``noproxy`` so every report shows the two paths as separate rows. Self-contained on purpose: the
load-test instances run this very file with nothing else of the project.

Options (command line, or environment as LOCUST_<OPTION>): --tenant-count, --wait-min,
--wait-max, and for unattended runs --max-failure-ratio and --max-p95-ms, which make Locust exit
with code 1 when broken.
"""

from __future__ import annotations

import json
import random

from locust import HttpUser, between, events, task

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
