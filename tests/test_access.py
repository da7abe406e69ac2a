"""The Python access function's internals (clocks, the order of close and open, multi-shard tokens) on a real
MariaDB over verified TLS, with moto standing in for STS. Its behaviour as seen from outside is the contract
both runtimes share: ``test_access_contract.py``.

MariaDB cannot check IAM auth tokens, so behind the PasswordSource seam the tenant's native
password stands in for the token; everything before it (assuming the tenant's role with its
session tag and session policy) runs for real against moto.
"""

from __future__ import annotations

import datetime
import json
import os
from urllib.parse import parse_qs, urlparse

import access_handler
import boto3
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
from constructs_lib.tenancy import Tenant, all_tenants
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER
from loadtest.local.standins import MemorySecretStore, NativePasswordAfterAssumeRole
from tests.support.access_harness import CountingSts, api_request
from tests.support.lambda_context import FakeLambdaContext

TENANTS = 20
MAX_CONNECTIONS = 4
ROLE_ARN = "arn:aws:iam::123456789012:role/test-tenant-access"
DB_USER_ARN_PREFIX = "arn:aws:rds-db:us-east-1:123456789012:dbuser:"


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


def tenant_sessions(server, tenant: Tenant) -> int:
    with server.connect() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (tenant.db_user,))
        return cursor.fetchone()[0]


@pytest.mark.parametrize("function", ["per_request"], indirect=True)
def test_per_request_mode_keeps_nothing_between_requests(function):
    """The original sample's function: AssumeRole, a login and a TLS connection per request, closed after it."""
    tenant = Tenant(5)
    opened = []
    connect = function.data.connect
    function.data.connect = lambda **kw: opened.append(connect(**kw)) or opened[-1]  # held: GC would close them
    for count in range(1, 4):
        assert function(api_request("5"))[0] == 200
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


def test_a_full_instance_closes_its_oldest_connection_before_opening_another(function):
    """The bound holds at every moment, so instances x bound is what a reader may see."""
    held_at_login = []
    connect = function.data.connect

    def counting_connect(**kw):
        held_at_login.append(function.data.open_connections)
        return connect(**kw)

    function.data.connect = counting_connect
    for tenant in all_tenants(TENANTS):
        assert function(api_request(str(tenant.id)))[0] == 200
    assert len(held_at_login) == TENANTS and max(held_at_login) == MAX_CONNECTIONS - 1


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


def test_a_session_policy_near_sts_packed_size_limit_is_logged(caplog):
    class NearlyFullSts:
        def assume_role(self, **request):
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
            credentials = {"AccessKeyId": "a", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expires}
            return {"Credentials": credentials, "PackedPolicySize": 93}

    target = ShardTarget("e", ROLE_ARN, DB_USER_ARN_PREFIX, "prx-9")
    TenantCredentialSource(NearlyFullSts()).get(Tenant(1), target)
    assert "93% of STS's packed size limit" in caplog.text


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
