"""The access function's contract, run against both runtimes (Python and Node.js) on a real MariaDB over verified TLS.

Each test starts the function as one Lambda instance in its own process (``tests/support/access_runtimes.py``)
with the environment the stack sets, and observes it only from outside: its answers, the AssumeRole
requests STS (moto's server) received, the tokens it signed, the sessions the database server sees, and
its log lines. MariaDB cannot check IAM tokens, so after the real token path the tenant's native password
logs in; everything before it runs as on AWS. What only one runtime's internals can show (clocks, the
order of close and open) is tested per runtime: ``test_access.py`` and the Node.js unit tests.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pymysql
import pytest
from seeding import PasswordInSecretUser, TenantSeeder
from tenant_request import BadRequest, tenant_from_event

from constructs_lib.endpoints import tls_server_name
from constructs_lib.function_contract import FAILURE_STATUS, ShardTarget, session_policy
from constructs_lib.tenancy import ROWS_PER_TENANT, TENANT_TABLE, Tenant, all_tenants
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, MariaDB, start_mariadb
from loadtest.local.nodejs_package import stage_nodejs_function
from loadtest.local.standins import MemorySecretStore
from loadtest.local.tls import make_pki
from tests.support.access_harness import api_request
from tests.support.access_runtimes import RUNTIMES, AccessInstance, RecordingSts, start_instance

TENANTS = 20
MAX_CONNECTIONS = 4
ROLE_ARN = "arn:aws:iam::123456789012:role/test-tenant-access"
DB_USER_ARN_PREFIX = "arn:aws:rds-db:us-east-1:123456789012:dbuser:"
RESOURCE_ID = "prx-0123456789abcdef0"
ACCESS_DENIED_TO_DATABASE = 1044
BOTH_MODES = pytest.mark.parametrize("function", ["kept", "per_request"], indirect=True)
PROXY_DOMAIN = "proxy-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com"
READER_ENDPOINT = f"tenantdb-proxy-0-reader.endpoint.{PROXY_DOMAIN}"
OTHER_PROXY_READER = "tenantdb-proxy-0-reader.endpoint.proxy-ffffffffffff.us-east-1.rds.amazonaws.com"


def seed(server: MariaDB, count: int) -> dict[int, str]:
    """Tenants 0..count-1 on ``server``; their native passwords (what MariaDB checks instead of a token)."""
    store = MemorySecretStore()
    identity = PasswordInSecretUser(store=store, name_prefix="contract", host=server.host, port=server.port)
    report = TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity).seed(all_tenants(count))
    assert not report.failed
    return {t.id: store.values[t.secret_name("contract")]["password"] for t in all_tenants(count)}


@dataclass
class World:
    server: MariaDB
    passwords: dict[int, str]
    sts: RecordingSts
    staged_nodejs: Path

    def environment(self, mode: str, **overrides: str) -> dict[str, str]:
        """What the stack sets (AccessConfig.to_environment's keys), plus region, credentials and STS's endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_STS": self.sts.endpoint,
            "POWERTOOLS_SERVICE_NAME": "contract",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "DB_ENDPOINTS": self.server.host,
            "DB_PORT": str(self.server.port),
            "DB_RESOURCE_IDS": RESOURCE_ID,
            "TENANT_ROLE_ARN": ROLE_ARN,
            "DB_USER_ARN_PREFIX": DB_USER_ARN_PREFIX,
            "CA_BUNDLE": str(self.server.pki.ca_file),
            "TENANT_COUNT": str(TENANTS),
            "MAX_TENANT_CONNECTIONS": str(MAX_CONNECTIONS),
            "DB_MODE": mode,
            "DB_MAX_AGE": "900",
            **overrides,
        }


@pytest.fixture(scope="module")
def world(mariadb_factory, tmp_path_factory):
    server = mariadb_factory()
    sts = RecordingSts()
    yield World(server, seed(server, TENANTS), sts, stage_nodejs_function(tmp_path_factory.mktemp("nodejs")))
    sts.stop()


@pytest.fixture(params=RUNTIMES)
def runtime(request) -> str:
    return request.param


@pytest.fixture
def start(world, runtime, tmp_path):
    """Start instances of the runtime under test; all are stopped (connections closed) after the test."""
    instances: list[AccessInstance] = []

    def start(mode: str = "kept", world: World = world, **overrides: str) -> AccessInstance:
        instance = start_instance(
            runtime,
            world.environment(mode, **overrides),
            world.passwords,
            tmp_path / str(len(instances)),
            world.staged_nodejs,
        )
        instances.append(instance)
        return instance

    yield start
    for instance in instances:
        instance.stop()


@pytest.fixture
def function(start, request) -> AccessInstance:
    """One instance in the connection mode the test names (indirect parameter), "kept" by default."""
    return start(getattr(request, "param", "kept"))


@pytest.fixture(scope="module")
def shared_instances(world, tmp_path_factory):
    """One long-lived instance per runtime, for tests that only send requests that change nothing."""
    instances: dict[str, AccessInstance] = {}

    def get(runtime: str) -> AccessInstance:
        if runtime not in instances:
            instances[runtime] = start_instance(
                runtime,
                world.environment("kept"),
                world.passwords,
                tmp_path_factory.mktemp(runtime),
                world.staged_nodejs,
            )
        return instances[runtime]

    yield get
    for instance in instances.values():
        instance.stop()


def admin_query(server: MariaDB, sql: str, args=None) -> list[tuple]:
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def session_ids(server: MariaDB, tenant: Tenant) -> set[int]:
    """The server's sessions of the tenant's DB user."""
    return {
        row[0]
        for row in admin_query(
            server, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (tenant.db_user,)
        )
    }


def tenant_sessions_total(server: MariaDB) -> int:
    return admin_query(server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER LIKE 'user%%'")[0][0]


def aborted_clients(server: MariaDB) -> int:
    """Connections the server saw end without a proper logout (COM_QUIT)."""
    return int(admin_query(server, "SHOW GLOBAL STATUS LIKE 'Aborted_clients'")[0][1])


def rows_in_database(server, tenant, ids):
    with server.connect() as connection, connection.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute(f"SELECT * FROM `{tenant.database}`.`{TENANT_TABLE}` WHERE ID IN %s ORDER BY ID", (ids,))
        return cursor.fetchall()


# ---- answers ------------------------------------------------------------------------------------------


@BOTH_MODES
def test_valid_tenants_get_five_of_their_own_rows(function, world):
    for tenant in [*all_tenants(TENANTS), Tenant(3), Tenant(0)]:
        status, body = function.call(api_request(str(tenant.id)))
        assert status == 200 and body["tenant"] == tenant.id
        ids = [row["ID"] for row in body["rows"]]
        assert len(set(ids)) == 5 and all(1 <= i <= ROWS_PER_TENANT for i in ids)
        assert body["rows"] == rows_in_database(world.server, tenant, ids)


MALFORMED_EVENTS = [
    None,
    [],
    "tenant=1",
    42,
    {},
    {"queryStringParameters": None},
    {"queryStringParameters": {}},
    {"queryStringParameters": []},
    {"queryStringParameters": "tenant=1"},
    {"queryStringParameters": ["1"]},
    {"queryStringParameters": {"Tenant": "1"}},
    {"queryStringParameters": {"tenant": None}},
    {"queryStringParameters": {"tenant": 1}},
    {"queryStringParameters": {"tenant": ["1"]}},
    {"queryStringParameters": {"tenant": "1"}, "multiValueQueryStringParameters": "x"},
    {"queryStringParameters": {"tenant": "2"}, "multiValueQueryStringParameters": {"tenant": ["1", "2"]}},
    *(
        {"queryStringParameters": {"tenant": value}}
        for value in [
            "",
            " ",
            " 1",
            "1 ",
            "+1",
            "-1",
            "-0",
            "01",
            "00",
            "1.0",
            "1e3",
            "0x10",
            "abc",
            "1a",
            "1_0",
            "1,2",
            "\u0661",
            "\uff11",
            "\u00bd",
            "1\x00",
            "1\n",
            "9" * 7,
            "9" * 10_000,
            str(TENANTS),
            "1000000",
            "999999",
            "NaN",
            "∞",
            "true",
        ]
    ),
]


@pytest.mark.parametrize("event", MALFORMED_EVENTS, ids=lambda e: repr(e)[:40])
def test_malformed_requests_get_the_same_400_json_from_both_runtimes(shared_instances, runtime, event):
    """The reference is lambda/tenant_request.py's answer, in this process: both runtimes must give exactly it."""
    with pytest.raises(BadRequest) as expected:
        tenant_from_event(event, TENANTS)
    status, body = shared_instances(runtime).call(event)
    assert (status, body) == (400, {"error": expected.value.code, "message": str(expected.value)})


def test_there_are_at_least_thirty_malformed_cases():
    assert len(MALFORMED_EVENTS) >= 30


@BOTH_MODES
def test_logs_hold_no_tenant_rows(function):
    status, body = function.call(api_request("4"))
    assert status == 200
    function.call({"queryStringParameters": {"tenant": "04"}})
    logs = json.dumps(function.logs())
    assert "invalid_tenant" in logs  # the function's log lines are read, not an empty list
    for row in body["rows"]:
        for column, value in row.items():
            if column != "ID":
                assert str(value) not in logs


def test_random_rows_are_spread_over_the_table(function):
    seen = set()
    for _ in range(40):
        seen.update(row["ID"] for row in function.call(api_request("1"))[1]["rows"])
    assert len(seen) > 100


# ---- tenant sessions and tokens ------------------------------------------------------------------------


@BOTH_MODES
def test_tenant_role_is_assumed_with_its_tag_and_a_session_policy_for_its_user_only(function, world):
    before = len(world.sts.for_session("tenant-7"))
    assert function.call(api_request("7"))[0] == 200
    [call] = world.sts.for_session("tenant-7")[before:]
    assert call.role_arn == ROLE_ARN
    assert call.tags == [{"Key": "tenant", "Value": "7"}]
    assert call.policy == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "rds-db:connect", "Resource": f"{DB_USER_ARN_PREFIX}{RESOURCE_ID}/user7"}
        ],
    }


@BOTH_MODES
def test_every_token_is_for_its_tenant_and_signed_by_that_tenants_own_session(function, world):
    """Interleaved tenants on one instance: each token names its tenant's user at the endpoint, and the
    credentials that signed it came from an AssumeRole tagged with that tenant and scoped to its user."""
    for tenant in (3, 4, 3, 5, 4):
        assert function.call(api_request(str(tenant)))[0] == 200
    tokens = function.tokens()
    assert tokens
    for token in tokens:
        url = urlparse(f"https://{token}")
        query = parse_qs(url.query)
        [user] = query["DBUser"]
        tenant = Tenant(int(user.removeprefix("user")))
        assert url.hostname == world.server.host and url.port == world.server.port
        assert query["Action"] == ["connect"] and int(query["X-Amz-Expires"][0]) == 900
        assert query["X-Amz-Credential"][0].split("/")[2:4] == ["us-east-1", "rds-db"]
        signer = world.sts.signer_of(query["X-Amz-Credential"][0].split("/")[0])
        assert signer.tags == [{"Key": "tenant", "Value": str(tenant.id)}]
        assert signer.session_name == f"tenant-{tenant.id}" and signer.role_arn == ROLE_ARN
        [statement] = signer.policy["Statement"]
        assert statement["Resource"] == f"{DB_USER_ARN_PREFIX}{RESOURCE_ID}/{tenant.db_user}"


def test_an_unreachable_sts_is_a_json_502(start):
    function = start(AWS_ENDPOINT_URL_STS="http://127.0.0.1:1")  # nothing listens there
    assert function.call(api_request("2")) == (
        FAILURE_STATUS["credentials_unavailable"],
        {"error": "credentials_unavailable"},
    )
    assert [line["message"] for line in function.logs() if line.get("tenant") == 2] == ["credentials failure"]


# ---- connections: kept or per request ------------------------------------------------------------------


def test_warm_requests_reuse_credentials_and_connection(function, world):
    assert function.call(api_request("5"))[0] == 200
    calls, sessions = len(world.sts.calls), session_ids(world.server, Tenant(5))
    for _ in range(5):
        assert function.call(api_request("5"))[0] == 200
    assert len(world.sts.calls) == calls  # no new AssumeRole
    assert session_ids(world.server, Tenant(5)) == sessions and len(sessions) == 1  # the same login
    assert function.stats() == {"requests": 6, "opened": 1, "reused": 5, "open_connections": 1}


@pytest.mark.parametrize("function", ["per_request"], indirect=True)
def test_per_request_mode_keeps_nothing_between_requests(function, world):
    """The original sample's function: AssumeRole, a login and a TLS connection per request, logged out after it."""
    tenant, aborted = Tenant(5), aborted_clients(world.server)
    before = len(world.sts.for_session("tenant-5"))
    for count in range(1, 4):
        assert function.call(api_request("5"))[0] == 200
        assert len(world.sts.for_session("tenant-5")) - before == count
        assert session_ids(world.server, tenant) == set()  # closed before the answer, not left to time out
        stats = function.stats()
        assert (stats["opened"], stats["reused"], stats["open_connections"]) == (count, 0, 0)
    assert aborted_clients(world.server) == aborted  # each one logged out (COM_QUIT), none just dropped


def test_a_kept_connection_older_than_the_policy_allows_logs_in_again(start, world):
    function = start(DB_MAX_AGE="2")
    tenant = Tenant(8)
    assert function.call(api_request("8"))[0] == 200
    first = session_ids(world.server, tenant)
    assert function.call(api_request("8"))[0] == 200 and session_ids(world.server, tenant) == first
    time.sleep(2.1)
    assert function.call(api_request("8"))[0] == 200
    second = session_ids(world.server, tenant)
    assert len(second) == 1 and second != first  # a new login; the old one closed
    assert function.stats()["opened"] == 2


def test_a_dead_connection_is_reopened(function, world):
    assert function.call(api_request("9"))[0] == 200
    [before] = session_ids(world.server, Tenant(9))
    admin_query(world.server, f"KILL CONNECTION {before}")
    status, body = function.call(api_request("9"))
    assert status == 200 and len(body["rows"]) == 5
    [after] = session_ids(world.server, Tenant(9))
    assert after != before


def test_connections_per_instance_are_bounded_and_evicted_ones_closed(function, world):
    for tenant in all_tenants(TENANTS):
        assert function.call(api_request(str(tenant.id)))[0] == 200
        assert function.stats()["open_connections"] <= MAX_CONNECTIONS
        assert tenant_sessions_total(world.server) <= MAX_CONNECTIONS
    assert function.stats()["opened"] == TENANTS


# ---- failures ------------------------------------------------------------------------------------------


@BOTH_MODES
def test_database_failure_is_a_json_503_and_the_connection_is_dropped(function, world):
    tenant = Tenant(11)
    assert function.call(api_request("11"))[0] == 200
    with world.server.connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"RENAME TABLE `{tenant.database}`.`{TENANT_TABLE}` TO `{tenant.database}`.`moved`")
        try:
            status, body = function.call(api_request("11"))
        finally:
            cursor.execute(f"RENAME TABLE `{tenant.database}`.`moved` TO `{tenant.database}`.`{TENANT_TABLE}`")
    assert (status, body) == (503, {"error": "database_unavailable"})
    assert session_ids(world.server, tenant) == set()
    assert function.call(api_request("11"))[0] == 200


@pytest.mark.parametrize("mode", ["kept", "per_request"])
def test_unreachable_database_is_a_json_503(start, mode):
    function = start(mode, DB_PORT="1")  # nothing listens there
    assert function.call(api_request("2")) == (503, {"error": "database_unavailable"})


def test_a_denial_keeps_the_servers_message_in_the_log_and_out_of_the_response(function, world):
    tenant = Tenant(12)
    grant = f"SELECT ON `{tenant.database}`.*"
    admin_query(world.server, f"REVOKE {grant} FROM %s@'%%'", (tenant.db_user,))
    try:
        status, body = function.call(api_request("12"))
    finally:
        admin_query(world.server, f"GRANT {grant} TO %s@'%%'", (tenant.db_user,))
    assert (status, body) == (503, {"error": "database_unavailable"})
    [line] = [line for line in function.logs() if line["message"] == "database failure"]
    assert line["mysql_errno"] == ACCESS_DENIED_TO_DATABASE and line["tenant"] == 12
    assert line["mysql_message"] == f"Access denied for user '{tenant.db_user}'@'%' to database '{tenant.database}'"
    assert tenant.database not in json.dumps(body)


def test_a_request_never_logs_the_tenant_of_the_request_before_it(start):
    function = start(DB_PORT="1")  # every database request fails, and is logged with its tenant
    for event in (api_request("6"), {"queryStringParameters": {"tenant": "01"}}, api_request("11"), {}):
        function.call(event)
    lines = [(line["message"], line.get("tenant")) for line in function.logs() if "message" in line]
    assert lines == [
        ("database failure", 6),
        ("bad request", None),
        ("database failure", 11),
        ("bad request", None),
    ]


@pytest.mark.parametrize(
    "setting", [{"DB_MODE": "pooled"}, {"DB_MAX_AGE": "901"}, {"MAX_TENANT_CONNECTIONS": "0"}, {"TENANT_COUNT": "x"}]
)
def test_an_environment_outside_the_contract_fails_the_invocation_not_a_request(start, setting):
    """What the stack would never write: the instance refuses to run (a function error), never answers 200."""
    answer = start(**setting).invoke(api_request("1"))
    assert "function_error" in answer and "response" not in answer


# ---- the deployer's isolation check --------------------------------------------------------------------


def test_a_direct_invocation_runs_the_isolation_check_and_an_api_request_never_does(function, world):
    report = function.invoke({"isolation_check": {"tenant": 3, "other": 4}})["response"]
    assert report["isolated"] is True
    by_kind = {attempt["kind"]: attempt for attempt in report["attempts"]}
    assert by_kind["own user on own database"]["outcome"] == "allowed"
    assert by_kind["tenant 3's user on tenant 4's database"]["message"] == (
        "Access denied for user 'user3'@'%' to database 'user_database4'"
    )
    assert [line["report"] for line in function.logs() if line["message"] == "isolation check"] == [report]
    # The token tried for tenant 4's user was signed by tenant 3's own session.
    foreign = [t for t in function.tokens() if parse_qs(urlparse(f"https://{t}").query)["DBUser"] == ["user4"]]
    assert foreign
    for token in foreign:
        key = parse_qs(urlparse(f"https://{token}").query)["X-Amz-Credential"][0].split("/")[0]
        signer = world.sts.signer_of(key)
        assert signer.tags == [{"Key": "tenant", "Value": "3"}]
        assert signer.policy == json.loads(session_policy(Tenant(3), signer_target(signer)))
    # Whatever a caller puts in an API request, API Gateway's event has a requestContext: the normal path.
    status, body = function.call({**api_request("3"), "isolation_check": {"tenant": 3, "other": 4}})
    assert status == 200 and body["tenant"] == 3 and "attempts" not in body


def signer_target(signer):
    """The shard target a recorded AssumeRole was for (the test's one endpoint)."""
    return ShardTarget("unused", signer.role_arn, DB_USER_ARN_PREFIX, RESOURCE_ID)


@pytest.mark.parametrize(
    "check", [{"tenant": 3, "other": 3}, {"tenant": 3, "other": TENANTS}, {"tenant": -1, "other": 2}, {"tenant": "3"}]
)
def test_a_bad_isolation_check_is_a_function_error_not_an_attempt(shared_instances, runtime, check):
    answer = shared_instances(runtime).invoke({"isolation_check": check})
    assert "function_error" in answer and "response" not in answer


# ---- TLS -----------------------------------------------------------------------------------------------


HOSTS = [
    READER_ENDPOINT,
    f"tenantdb-proxy-0.{PROXY_DOMAIN}",
    "tenantdb-proxy-12-reader.endpoint.proxy-0a1b2c3d4e5f.cn-north-1.rds.amazonaws.com.cn",
    "db.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com",
    "x.endpoint.proxy-ABC.us-east-1.rds.amazonaws.com",
    "127.0.0.1",
]


def test_both_runtimes_check_the_same_name_per_endpoint(shared_instances, runtime):
    assert shared_instances(runtime).server_names(HOSTS) == [tls_server_name(host) for host in HOSTS]


@pytest.fixture(scope="module")
def proxy_like(world, mariadb_installed, tmp_path_factory):
    """A server presenting RDS Proxy's kind of certificate: the proxy domain's wildcard (and the loopback
    address, which the harness's own admin connections verify)."""
    directory = tmp_path_factory.mktemp("proxy-like")
    server = start_mariadb(directory, make_pki(directory / "pki", dns_names=(f"*.{PROXY_DOMAIN}",)))
    try:
        yield World(server, seed(server, 2), world.sts, world.staged_nodejs)
    finally:
        server.stop()


LOOPBACK = ".amazonaws.com,.example.net"  # the VPC's DNS, standing in
CLUSTER_READER = "tenantdb.cluster-ro-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com"


def assert_refused_by_tls(function: AccessInstance) -> None:
    assert function.call(api_request("1")) == (503, {"error": "database_unavailable"})
    [line] = [line for line in function.logs() if line["message"] == "database failure"]
    assert "certificate" in line["mysql_message"].lower(), line  # refused by TLS, not by anything else


def test_the_proxy_reader_endpoint_is_verified_against_the_proxys_wildcard(start, proxy_like):
    function = start(
        world=proxy_like, DB_ENDPOINTS=READER_ENDPOINT, TENANT_COUNT="2", ACCESS_TEST_LOOPBACK_SUFFIXES=LOOPBACK
    )
    assert function.call(api_request("1"))[0] == 200


@pytest.mark.parametrize(
    "endpoint",
    [OTHER_PROXY_READER, READER_ENDPOINT.replace("amazonaws.com", "example.net"), CLUSTER_READER],
    ids=["another proxy", "another domain", "a cluster name the certificate does not carry"],
)
def test_a_certificate_not_for_the_endpoint_is_refused(start, proxy_like, endpoint):
    function = start(world=proxy_like, DB_ENDPOINTS=endpoint, TENANT_COUNT="2", ACCESS_TEST_LOOPBACK_SUFFIXES=LOOPBACK)
    assert_refused_by_tls(function)


@pytest.mark.parametrize("endpoint", [READER_ENDPOINT, "127.0.0.1"])
def test_a_certificate_from_another_ca_is_refused(start, proxy_like, tmp_path, endpoint):
    stranger = make_pki(tmp_path / "other-ca", dns_names=(f"*.{PROXY_DOMAIN}",))
    function = start(
        world=proxy_like,
        DB_ENDPOINTS=endpoint,
        TENANT_COUNT="2",
        CA_BUNDLE=str(stranger.ca_file),
        ACCESS_TEST_LOOPBACK_SUFFIXES=LOOPBACK,
    )
    assert_refused_by_tls(function)
