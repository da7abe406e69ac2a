"""Lambda's scaling model in the rehearsal, and what it does to the database's connections.

The pool's rules on stand-in instances (deterministic); then the real access function, one process
per instance, on MariaDB behind the VPC-like relay: the blog's per_request design beyond the
server's max_connections, and the default design with its bound sized to the server. Every load is
bounded in requests and time and stays on 127.0.0.1.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import db
import pymysql
import pytest

from constructs_lib.function_contract import ConnectionPolicy
from constructs_lib.tenancy import TENANT_TABLE, Tenant
from loadtest.local.deployment import LocalDeployment, StageSpec, local_deployment
from loadtest.local.lambda_pool import THROTTLED, FunctionPool
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER

TENANTS = 12
DB_MAX_CONNECTIONS = 10  # MariaDB's smallest
CLIENTS = 32
REQUESTS_PER_CLIENT = 8


# ---- the pool's rules, on stand-in instances ---------------------------------------------------


class HeldInstance:
    """Answers only when the test lets it: shows which requests overlap."""

    started: list[HeldInstance] = []
    runtime = "stand-in"

    def __init__(self, environment, log) -> None:
        self.release = threading.Event()
        self.served = 0
        HeldInstance.started.append(self)

    def invoke(self, event, timeout):
        assert self.release.wait(timeout)
        self.served += 1
        return {"statusCode": 200, "body": json.dumps({"served_by": id(self)})}

    def stop(self) -> None:
        pass

    def kill(self) -> None:
        pass


@pytest.fixture
def held_pool(tmp_path):
    HeldInstance.started = []
    pool = FunctionPool("stage", {}, 3, 5, tmp_path / "pool.log", start_instance=HeldInstance)
    yield pool
    for instance in HeldInstance.started:
        instance.release.set()
    pool.close()


def wait_for(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_busy_pool_starts_instances_up_to_its_limit_then_throttles(held_pool):
    with concurrent.futures.ThreadPoolExecutor(3) as workers:
        answers = [workers.submit(held_pool.invoke, {}) for _ in range(3)]
        wait_for(lambda: len(HeldInstance.started) == 3)  # one request in flight per instance
        assert held_pool.invoke({}) == THROTTLED  # all three busy and none may be added
        for instance in HeldInstance.started:
            instance.release.set()
        assert {json.loads(a.result()["body"])["served_by"] for a in answers} == set(map(id, HeldInstance.started))
    assert (held_pool.stats.cold_starts, held_pool.stats.throttled, held_pool.stats.peak_concurrency) == (3, 1, 3)


def test_idle_instances_are_reused_before_a_new_one_starts(held_pool):
    first = threading.Thread(target=held_pool.invoke, args=({},))
    first.start()
    wait_for(lambda: len(HeldInstance.started) == 1)
    HeldInstance.started[0].release.set()
    first.join()
    for _ in range(5):  # one after another: the idle instance serves them all
        assert held_pool.invoke({})["statusCode"] == 200
    assert len(HeldInstance.started) == 1 and HeldInstance.started[0].served == 6
    assert held_pool.stats.cold_starts == 1


def test_a_pool_needs_a_positive_limit(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        FunctionPool("stage", {}, 0, 5, tmp_path / "pool.log")


# ---- the real function, one process per instance, on MariaDB -----------------------------------


@dataclass(frozen=True)
class Answer:
    tenant: int
    status: int
    body: dict
    seconds: float


def get(deployment: LocalDeployment, stage: str, tenant: int) -> Answer:
    start = time.monotonic()
    url = f"{deployment.api.url}/{stage}/?tenant={tenant}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            status, body = response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        status, body = error.code, json.loads(error.read())
    return Answer(tenant, status, body, time.monotonic() - start)


def burst(deployment: LocalDeployment, stage: str, clients: int, per_client: int) -> list[Answer]:
    """``clients`` callers, each sending ``per_client`` requests back to back, tenants in turn."""

    def caller(index: int) -> list[Answer]:
        return [get(deployment, stage, (index + n) % TENANTS) for n in range(per_client)]

    with concurrent.futures.ThreadPoolExecutor(clients) as workers:
        return [answer for answers in workers.map(caller, range(clients)) for answer in answers]


def set_max_connections(deployment: LocalDeployment, value: int) -> None:
    connection = pymysql.connect(unix_socket=str(deployment.server.socket_path), user="root")
    with connection, connection.cursor() as cursor:
        cursor.execute(f"SET GLOBAL max_connections = {int(value)}")


def assert_each_tenant_got_its_own_rows(deployment: LocalDeployment, answers: list[Answer]) -> None:
    """No instance ever answered a tenant with another tenant's rows."""
    with deployment.server.connect(MASTER_USER, MASTER_PASSWORD) as admin, admin.cursor() as cursor:
        for answer in answers:
            if answer.status != 200:
                continue
            assert answer.body["tenant"] == answer.tenant
            ids = [row["ID"] for row in answer.body["rows"]]
            cursor.execute(
                f"SELECT ID, A, B, C, D, E FROM `{Tenant(answer.tenant).database}`.`{TENANT_TABLE}` "
                "WHERE ID IN %s ORDER BY ID",
                (ids,),
            )
            columns = ("ID", "A", "B", "C", "D", "E")
            assert answer.body["rows"] == [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def refused_as_too_many(deployment: LocalDeployment) -> int:
    return deployment.sampler.read()["Connection_errors_max_connections"]


@pytest.fixture
def deploy(mariadb_installed, tmp_path):
    def start(stage: StageSpec):
        return local_deployment(tmp_path, TENANTS, [stage], DB_MAX_CONNECTIONS)

    return start


def test_per_request_beyond_max_connections_fails_fast_with_json_503_and_recovers(deploy):
    stage = StageSpec("no_proxy_stage", "no_proxy", ConnectionPolicy(mode="per_request"), CLIENTS)
    with deploy(stage) as deployment:
        # Warm every instance while the server has room, so what follows measures requests, not cold starts.
        set_max_connections(deployment, 500)
        warm = burst(deployment, stage.name, CLIENTS, 1)
        assert {a.status for a in warm} == {200}
        set_max_connections(deployment, DB_MAX_CONNECTIONS)
        before = refused_as_too_many(deployment)

        answers = burst(deployment, stage.name, CLIENTS, REQUESTS_PER_CLIENT)

        assert deployment.pools[stage.name].stats.cold_starts == CLIENTS  # no instance was started by the burst
        refused = [a for a in answers if a.status == 503]
        assert refused and {a.status for a in answers} <= {200, 503}, {a.status for a in answers}
        assert all(a.body == {"error": "database_unavailable"} for a in refused)
        # Refused at login, not left waiting for a timeout.
        assert max(a.seconds for a in refused) < db.CONNECT_TIMEOUT_SECONDS
        assert refused_as_too_many(deployment) > before
        # Every 503 was the server's "Too many connections" (1040), as the function's log says.
        assert (deployment.log_dir / f"{stage.name}.log").read_text().count('"mysql_errno":1040') == len(refused)
        assert_each_tenant_got_its_own_rows(deployment, answers)
        # The load drops: every request succeeds again, and nothing was left connected.
        calm = [get(deployment, stage.name, tenant) for tenant in range(TENANTS)]
        assert {a.status for a in calm} == {200}
        wait_for(lambda: deployment.sampler.read()["Threads_connected"] == 1)  # the sampler's own, only


def test_kept_connections_stay_within_concurrency_times_the_bound(deploy):
    """The same callers against the default design sized to the server (Lambda's concurrency limit x kept
    connections below max_connections): no refusals; what Lambda cannot run it throttles instead."""
    # 4 instances x 2 kept = 8, below max_connections with the sampler's own.
    stage = StageSpec("no_proxy_stage", "no_proxy", ConnectionPolicy(mode="kept", max_kept=2), 4)
    with deploy(stage) as deployment:
        before = deployment.sampler.read()
        answers = burst(deployment, stage.name, CLIENTS, REQUESTS_PER_CLIENT)
        after = deployment.sampler.read()
        pool = deployment.pools[stage.name]

        assert pool.stats.cold_starts <= 4 and pool.stats.peak_concurrency <= 4
        assert {a.status for a in answers} <= {200, 429}, {a.status for a in answers}
        assert any(a.status == 200 for a in answers) and pool.stats.invocations == len(answers)
        assert all(a.body == {"error": "function_throttled"} for a in answers if a.status == 429)
        assert after["Connection_errors_max_connections"] == before["Connection_errors_max_connections"]
        bound = pool.stats.cold_starts * stage.policy.max_kept
        assert max(s.values["Threads_connected"] for s in deployment.sampler.samples) <= bound + 1
        assert after["Threads_connected"] <= bound + 1
        assert_each_tenant_got_its_own_rows(deployment, answers)
