"""The access function on a real MariaDB over verified TLS, with moto standing in for STS.

MariaDB cannot check IAM auth tokens, so behind the PasswordSource seam the tenant's native
password stands in for the token; everything before it (assuming the tenant's role with its
session tag and session policy) runs for real against moto.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from urllib.parse import parse_qs, urlparse

import access_handler
import boto3
import pymysql
import pytest
from moto import mock_aws
from seeding import PasswordInSecretUser, TenantSeeder
from tenant_access import CREDENTIAL_REFRESH_MARGIN_SECONDS, IamAuthTokens, TenantCredentialSource
from tenant_data import TenantData

from constructs_lib.function_contract import (
    AccessConfig,
    ConnectionPolicy,
    ShardTarget,
    session_policy,
    session_tags,
)
from constructs_lib.tenancy import ROWS_PER_TENANT, TENANT_TABLE, Tenant, all_tenants
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER
from loadtest.local.standins import MemorySecretStore, NativePasswordAfterAssumeRole
from tests.support.access_harness import CountingSts
from tests.support.lambda_context import FakeLambdaContext

TENANTS = 20
MAX_CONNECTIONS = 4
ROLE_ARN = "arn:aws:iam::123456789012:role/test-tenant-access"
DB_USER_ARN_PREFIX = "arn:aws:rds-db:us-east-1:123456789012:dbuser:"
# Behaviour both connection modes share is tested in both.
ACCESS_DENIED_TO_DATABASE = 1044
BOTH_MODES = pytest.mark.parametrize("function", ["kept", "per_request"], indirect=True)


class Clock:
    def __init__(self):
        self.now = datetime.datetime.now(datetime.UTC).timestamp()

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def seeded(mariadb_factory):
    server = mariadb_factory()
    store = MemorySecretStore()
    identity = PasswordInSecretUser(store=store, name_prefix="access", host=server.host, port=server.port)
    connect = lambda: server.connect(MASTER_USER, MASTER_PASSWORD)  # noqa: E731
    report = TenantSeeder(connect, identity).seed(all_tenants(TENANTS))
    assert not report.failed
    return server, store


@pytest.fixture
def function(seeded, monkeypatch, request):
    """The handler configured as the stack configures it, with the seams above; in the connection mode
    the test names (indirect parameter), "kept" by default."""
    server, store = seeded
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "DB_ENDPOINTS": server.host,
        "DB_PORT": str(server.port),
        "DB_RESOURCE_IDS": "prx-0123456789abcdef0",
        "TENANT_ROLE_ARN": ROLE_ARN,
        "DB_USER_ARN_PREFIX": DB_USER_ARN_PREFIX,
        "CA_BUNDLE": str(server.pki.ca_file),
        "TENANT_COUNT": str(TENANTS),
        "MAX_TENANT_CONNECTIONS": str(MAX_CONNECTIONS),
        "DB_MODE": getattr(request, "param", "kept"),
        "DB_MAX_AGE": "900",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        sts = CountingSts(boto3.client("sts", region_name="us-east-1"))
        config = AccessConfig.from_environment(os.environ)
        credentials = TenantCredentialSource(sts, max_entries=config.connections.credential_entries)
        data = access_handler.build_tenant_data(config, NativePasswordAfterAssumeRole(credentials, store, "access"))
        monkeypatch.setattr(access_handler, "tenant_data", lambda: data)

        def call(event):
            response = access_handler.handler(event, FakeLambdaContext())
            return response["statusCode"], json.loads(response["body"])

        call.data, call.sts, call.server = data, sts, server
        yield call
        data.close()


def request(tenant: object) -> dict:
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": "GET",
        "queryStringParameters": {"tenant": tenant},
        "multiValueQueryStringParameters": {"tenant": [tenant]},
        "requestContext": {"requestId": "r-1"},
    }


def rows_in_database(server, tenant, ids):
    with server.connect() as connection, connection.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute(f"SELECT * FROM `{tenant.database}`.`{TENANT_TABLE}` WHERE ID IN %s ORDER BY ID", (ids,))
        return cursor.fetchall()


@BOTH_MODES
def test_valid_tenants_get_five_of_their_own_rows(function):
    for tenant in [*all_tenants(TENANTS), Tenant(3), Tenant(0)]:
        status, body = function(request(str(tenant.id)))
        assert status == 200 and body["tenant"] == tenant.id
        ids = [row["ID"] for row in body["rows"]]
        assert len(set(ids)) == 5 and all(1 <= i <= ROWS_PER_TENANT for i in ids)
        assert body["rows"] == rows_in_database(function.server, tenant, ids)


MALFORMED_EVENTS = [
    None,
    [],
    "tenant=1",
    42,
    {},
    {"queryStringParameters": None},
    {"queryStringParameters": {}},
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


@BOTH_MODES
@pytest.mark.parametrize("event", MALFORMED_EVENTS, ids=lambda e: repr(e)[:40])
def test_malformed_requests_get_400_with_a_json_error(function, event):
    status, body = function(event)
    assert status == 400
    assert body["error"] in {
        "malformed_request",
        "missing_tenant",
        "invalid_tenant",
        "unknown_tenant",
        "ambiguous_tenant",
    }
    assert "Traceback" not in json.dumps(body)


def test_there_are_at_least_thirty_malformed_cases():
    assert len(MALFORMED_EVENTS) >= 30


def test_warm_requests_reuse_credentials_and_connection(function):
    function(request("5"))
    connection = function.data.kept(Tenant(5))
    calls = len(function.sts.calls)
    for _ in range(5):
        assert function(request("5"))[0] == 200
    assert len(function.sts.calls) == calls  # no new AssumeRole
    assert function.data.kept(Tenant(5)) is connection  # same connection


def tenant_sessions(server, tenant: Tenant) -> int:
    with server.connect() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (tenant.db_user,))
        return cursor.fetchone()[0]


def test_kept_mode_counts_what_it_reuses(function):
    for _ in range(5):
        assert function(request("6"))[0] == 200
    assert (function.data.stats.requests, function.data.stats.opened, function.data.stats.reused) == (5, 1, 4)
    assert tenant_sessions(function.server, Tenant(6)) == 1


@pytest.mark.parametrize("function", ["per_request"], indirect=True)
def test_per_request_mode_keeps_nothing_between_requests(function):
    """The original sample's function: AssumeRole, a login and a TLS connection per request, closed after it."""
    tenant = Tenant(5)
    opened = []
    connect = function.data.connect
    function.data.connect = lambda **kw: opened.append(connect(**kw)) or opened[-1]  # held: GC would close them
    for count in range(1, 4):
        assert function(request("5"))[0] == 200
        assert len(opened) == count and not opened[-1].open  # closed by the function (COM_QUIT), not by GC
        assert len([c for c in function.sts.calls if c["RoleSessionName"] == "tenant-5"]) == count
        assert function.data.stats.opened == count and function.data.stats.reused == 0
        assert function.data.open_connections == 0 and function.data.kept(tenant) is None
        assert tenant_sessions(function.server, tenant) == 0  # closed, not left for the server to time out


def test_a_kept_connection_older_than_the_policy_allows_is_replaced_and_closed(function):
    clock = Clock()
    policy = ConnectionPolicy(mode="kept", max_kept=4, max_age_seconds=60)
    data = TenantData(
        route=function.data._route,
        passwords=function.data.passwords,
        connect=function.data.connect,
        policy=policy,
        clock=clock,
    )
    tenant = Tenant(8)
    try:
        data.random_rows(tenant)
        first = data.kept(tenant)
        clock.now += 59
        data.random_rows(tenant)
        assert data.kept(tenant) is first
        clock.now += 1
        data.random_rows(tenant)
        assert data.kept(tenant) is not first and first.open is False
        assert tenant_sessions(function.server, tenant) == 1
    finally:
        data.close()


@BOTH_MODES
def test_tenant_role_is_assumed_with_its_tag_and_a_session_policy_for_its_user_only(function):
    function(request("7"))
    [call] = [c for c in function.sts.calls if c["RoleSessionName"] == "tenant-7"]
    assert call["RoleArn"] == ROLE_ARN
    assert call["Tags"] == [{"Key": "tenant", "Value": "7"}]
    [statement] = json.loads(call["Policy"])["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": "rds-db:connect",
        "Resource": f"{DB_USER_ARN_PREFIX}prx-0123456789abcdef0/user7",
    }


def test_a_dead_connection_is_reopened(function):
    assert function(request("9"))[0] == 200
    before = function.data.kept(Tenant(9))
    with function.server.connect() as admin, admin.cursor() as cursor:
        cursor.execute("KILL CONNECTION %s", (before.thread_id(),))
    status, body = function(request("9"))
    assert status == 200 and len(body["rows"]) == 5
    assert function.data.kept(Tenant(9)) is not before


def test_connections_per_instance_are_bounded_and_evicted_ones_closed(function):
    for tenant in all_tenants(TENANTS):
        assert function(request(str(tenant.id)))[0] == 200
        assert function.data.open_connections <= MAX_CONNECTIONS
    with function.server.connect() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER LIKE 'user%%'")
        assert cursor.fetchone()[0] <= MAX_CONNECTIONS


def test_a_full_instance_closes_its_oldest_connection_before_opening_another(function):
    """The bound holds at every moment, so instances x bound is what a reader may see."""
    held_at_login = []
    connect = function.data.connect

    def counting_connect(**kw):
        held_at_login.append(function.data.open_connections)
        return connect(**kw)

    function.data.connect = counting_connect
    for tenant in all_tenants(TENANTS):
        assert function(request(str(tenant.id)))[0] == 200
    assert len(held_at_login) == TENANTS and max(held_at_login) == MAX_CONNECTIONS - 1


@BOTH_MODES
def test_database_failure_is_a_json_503_and_the_connection_is_dropped(function):
    tenant = Tenant(11)
    assert function(request("11"))[0] == 200
    with function.server.connect() as admin, admin.cursor() as cursor:
        cursor.execute(f"RENAME TABLE `{tenant.database}`.`{TENANT_TABLE}` TO `{tenant.database}`.`moved`")
        try:
            status, body = function(request("11"))
        finally:
            cursor.execute(f"RENAME TABLE `{tenant.database}`.`moved` TO `{tenant.database}`.`{TENANT_TABLE}`")
    assert (status, body) == (503, {"error": "database_unavailable"})
    assert function.data.kept(Tenant(11)) is None
    assert function(request("11"))[0] == 200


@BOTH_MODES
def test_unreachable_database_is_a_json_503(function, monkeypatch):
    monkeypatch.setenv("DB_PORT", "1")  # nothing listens there
    data = access_handler.build_tenant_data(AccessConfig.from_environment(os.environ), function.data.passwords)
    monkeypatch.setattr(access_handler, "tenant_data", lambda: data)
    assert function(request("2")) == (503, {"error": "database_unavailable"})


@pytest.fixture
def function_logs(monkeypatch):
    """What the function's structured logger writes (its handler keeps the stdout of import time)."""
    stream = io.StringIO()
    handler = access_handler.logger.registered_handler
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_a_denial_keeps_the_servers_message_in_the_log_and_out_of_the_response(function, function_logs):
    tenant, other = Tenant(12), Tenant(13)
    # The real code path with tenant 12 sent to tenant 13's database: the server refuses it.
    connect = function.data.connect
    function.data.connect = lambda **kw: connect(**{**kw, "database": other.database})
    status, body = function(request("12"))
    assert (status, body) == (503, {"error": "database_unavailable"})
    [line] = [json.loads(line) for line in function_logs.getvalue().splitlines() if "database failure" in line]
    assert line["mysql_errno"] == ACCESS_DENIED_TO_DATABASE
    assert line["mysql_message"] == f"Access denied for user '{tenant.db_user}'@'%' to database '{other.database}'"
    assert other.database not in json.dumps(body)


@BOTH_MODES
def test_logs_hold_no_tenant_rows(function, function_logs):
    status, body = function(request("4"))
    assert status == 200
    access_handler.logger.warning("a line that must appear", extra={"tenant": 4})
    logs = function_logs.getvalue()
    assert "a line that must appear" in logs  # the logs are read, not an empty string
    for row in body["rows"]:
        for column, value in row.items():
            if column != "ID":
                assert str(value) not in logs


def test_credentials_are_refreshed_shortly_before_they_expire():
    with mock_aws():
        sts = CountingSts(boto3.client("sts", region_name="us-east-1"))
        clock = Clock()
        source = TenantCredentialSource(sts, clock=clock)
        target = ShardTarget("db.example", ROLE_ARN, DB_USER_ARN_PREFIX, "cluster-ABC")
        first = source.get(Tenant(1), target)
        clock.now = first.expires_at - CREDENTIAL_REFRESH_MARGIN_SECONDS - 1
        assert source.get(Tenant(1), target) is first and len(sts.calls) == 1
        clock.now = first.expires_at - CREDENTIAL_REFRESH_MARGIN_SECONDS + 1
        source.get(Tenant(1), target)
        assert len(sts.calls) == 2


def test_auth_tokens_are_signed_for_the_tenant_and_reused_for_less_than_their_life():
    with mock_aws():
        sts = CountingSts(boto3.client("sts", region_name="us-east-1"))
        clock = Clock()
        tokens = IamAuthTokens("us-east-1", TenantCredentialSource(sts, clock=clock), clock=clock)
        signings = []
        create_client = tokens._botocore.create_client
        tokens._botocore.create_client = lambda *a, **kw: signings.append(kw) or create_client(*a, **kw)
        target = ShardTarget("prx.example", ROLE_ARN, DB_USER_ARN_PREFIX, "prx-1", port=3306)
        token = tokens.password(Tenant(8), target)
        query = parse_qs(urlparse(f"https://{token}").query)
        assert query["DBUser"] == ["user8"] and query["Action"] == ["connect"]
        assert int(query["X-Amz-Expires"][0]) == 900
        assert query["X-Amz-Credential"][0].split("/")[2:4] == ["us-east-1", "rds-db"]
        assert signings[0]["aws_session_token"]  # signed with the tenant's assumed-role credentials
        clock.now += 9 * 60
        assert tokens.password(Tenant(8), target) == token and len(signings) == 1
        clock.now += 2 * 60  # 11 minutes: a 15-minute token is not used this late
        tokens.password(Tenant(8), target)
        assert len(signings) == 2


def test_session_policy_and_tags_name_only_the_tenant():
    target = ShardTarget("e", ROLE_ARN, DB_USER_ARN_PREFIX, "prx-9")
    for tenant in all_tenants(TENANTS):
        [statement] = json.loads(session_policy(tenant, target))["Statement"]
        assert statement["Resource"] == f"{DB_USER_ARN_PREFIX}prx-9/user{tenant.id}"
        assert session_tags(tenant) == [{"Key": "tenant", "Value": str(tenant.id)}]


def test_random_rows_are_spread_over_the_table(function):
    seen = set()
    for _ in range(40):
        seen.update(row["ID"] for row in function(request("1"))[1]["rows"])
    assert len(seen) > 100


def test_a_session_policy_near_sts_packed_size_limit_is_logged(caplog):
    class NearlyFullSts:
        def assume_role(self, **request):
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
            credentials = {"AccessKeyId": "a", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expires}
            return {"Credentials": credentials, "PackedPolicySize": 93}

    target = ShardTarget("e", ROLE_ARN, DB_USER_ARN_PREFIX, "prx-9")
    TenantCredentialSource(NearlyFullSts()).get(Tenant(1), target)
    assert "93% of STS's packed size limit" in caplog.text


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@BOTH_MODES
def test_a_request_never_logs_the_tenant_of_the_request_before_it(function, function_logs, monkeypatch):
    def database_down(tenant):
        raise pymysql.err.OperationalError(2003, "Can't connect")

    monkeypatch.setattr(function.data, "random_rows", database_down)
    for event in (request("6"), {"queryStringParameters": {"tenant": "01"}}, request("11"), {}):
        function(event)
    lines = [(line["message"], line.get("tenant")) for line in log_lines(function_logs.getvalue())]
    assert lines == [
        ("database failure", 6),
        ("bad request", None),
        ("database failure", 11),
        ("bad request", None),
    ]


def test_tokens_and_credentials_are_each_tenants_own_on_the_real_token_path():
    """Interleaved tenants A, B, A on one warm instance: every token is for its tenant's user and was
    signed with credentials from that tenant's own AssumeRole (tag, session name, session policy)."""
    with mock_aws():
        sts = CountingSts(boto3.client("sts", region_name="us-east-1"))
        tokens = IamAuthTokens("us-east-1", TenantCredentialSource(sts))
        target = ShardTarget("prx.example", ROLE_ARN, DB_USER_ARN_PREFIX, "prx-1")
        other_target = ShardTarget("prx2.example", ROLE_ARN.replace("access", "access-2"), DB_USER_ARN_PREFIX, "prx-2")
        for tenant, shard_target in [
            (Tenant(3), target),
            (Tenant(4), target),
            (Tenant(3), target),
            (Tenant(3), other_target),
        ]:
            query = parse_qs(urlparse(f"https://{tokens.password(tenant, shard_target)}").query)
            assert query["DBUser"] == [tenant.db_user]
            assert urlparse(f"https://{tokens.password(tenant, shard_target)}").hostname == shard_target.endpoint
            signer = sts.request_for(query["X-Amz-Credential"][0].split("/")[0])
            assert signer["Tags"] == session_tags(tenant)
            assert signer["RoleSessionName"] == f"tenant-{tenant.id}"
            assert signer["RoleArn"] == shard_target.role_arn
            assert json.loads(signer["Policy"]) == json.loads(session_policy(tenant, shard_target))
        assert len(sts.calls) == 3  # A on the first role once (reused), B once, A on the second role once


def test_a_direct_invocation_runs_the_isolation_check_and_an_api_request_never_does(function, function_logs):
    report = access_handler.handler({"isolation_check": {"tenant": 3, "other": 4}}, FakeLambdaContext())
    assert report["isolated"] is True
    by_kind = {attempt["kind"]: attempt for attempt in report["attempts"]}
    assert by_kind["tenant 3's user on tenant 4's database"]["message"] == (
        "Access denied for user 'user3'@'%' to database 'user_database4'"
    )
    assert "isolation check" in function_logs.getvalue()
    # Whatever a caller puts in an API request, API Gateway's event has a requestContext: the normal path.
    sneaky = {**request("3"), "isolation_check": {"tenant": 3, "other": 4}}
    status, body = function(sneaky)
    assert status == 200 and body["tenant"] == 3 and "attempts" not in body
    status, body = function({**request("3"), "queryStringParameters": {"isolation_check": "1"}})
    assert status == 400


def test_the_isolation_checks_token_is_for_the_other_user_but_signed_by_the_tenants_own_session():
    """What IAM must refuse on AWS: user B's token from tenant A's session (A's tag, A's session policy)."""
    with mock_aws():
        sts = CountingSts(boto3.client("sts", region_name="us-east-1"))
        tokens = IamAuthTokens("us-east-1", TenantCredentialSource(sts))
        own = ShardTarget("prx.example", ROLE_ARN, DB_USER_ARN_PREFIX, "prx-1")
        others = ShardTarget("prx2.example", ROLE_ARN.replace("access", "access-2"), DB_USER_ARN_PREFIX, "prx-2")
        token = tokens.password_as(Tenant(3), own, Tenant(204), others)
        query = parse_qs(urlparse(f"https://{token}").query)
        assert query["DBUser"] == ["user204"] and urlparse(f"https://{token}").hostname == "prx2.example"
        signer = sts.request_for(query["X-Amz-Credential"][0].split("/")[0])
        assert signer["Tags"] == session_tags(Tenant(3)) and signer["RoleArn"] == own.role_arn
        assert json.loads(signer["Policy"]) == json.loads(session_policy(Tenant(3), own))
