"""The seeding function on a real MariaDB (TLS, verified), with moto standing in for Secrets Manager.

Both sides use native passwords here: MariaDB has no AWSAuthenticationPlugin, so the No Proxy
side's IAM user creation is checked as SQL text, and its data path runs with the password
identity behind the same seam.
"""

from __future__ import annotations

import functools
import itertools
import json
import random

import boto3
import db
import pymysql
import pytest
import seed_handler
from moto import mock_aws
from seeding import MAX_VALUE, IamAuthenticatedUser, PasswordInSecretUser, TenantSeeder

from constructs_lib.tenancy import ROWS_PER_TENANT, TENANT_TABLE, Tenant, all_tenants
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER
from loadtest.local.standins import MemorySecretStore
from loadtest.local.tls import make_pki
from tests.support.lambda_context import FakeLambdaContext

NAME_PREFIX = "seedtest"
TENANTS = 200
ACCESS_DENIED_TO_DATABASE = 1044


def master_connect(server):
    return functools.partial(
        db.connect,
        host=server.host,
        port=server.port,
        user=MASTER_USER,
        password=MASTER_PASSWORD,
        ca_file=str(server.pki.ca_file),
    )


def seeder(server, store):
    identity = PasswordInSecretUser(store=store, name_prefix=NAME_PREFIX, host=server.host, port=server.port)
    return TenantSeeder(master_connect(server), identity)


def table_checksums(server, tenants):
    with server.connect() as connection, connection.cursor() as cursor:
        tables = ", ".join(f"`{t.database}`.`{TENANT_TABLE}`" for t in tenants)
        cursor.execute(f"CHECKSUM TABLE {tables}")
        return dict(cursor.fetchall())


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_DEV": "0",
        }.items():
            patch.setenv(key, value)
        with mock_aws():
            yield boto3.client("secretsmanager")


@pytest.fixture(scope="module")
def proxy_side(mariadb_factory, aws):
    """A cluster seeded through the Lambda handler, tenant secrets declared empty as Terraform does."""
    server = mariadb_factory()
    for tenant in all_tenants(TENANTS):
        aws.create_secret(Name=tenant.secret_name(NAME_PREFIX))
    environment = seeding_environment(server, aws, "rds!cluster-test", NAME_PREFIX)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)

        def invoke(first=0, last=TENANTS - 1):
            return seed_handler.handler({"first_tenant": first, "last_tenant": last}, FakeLambdaContext())

        report = invoke()
        yield server, aws, invoke, report


def seeding_environment(server, aws, name: str, prefix: str) -> dict[str, str]:
    """The Proxy-side seeding function's environment as the stack writes it, with a master secret ``name``."""
    master = aws.create_secret(
        Name=name, SecretString=json.dumps({"username": MASTER_USER, "password": MASTER_PASSWORD})
    )
    return {
        "DB_HOST": server.host,
        "DB_PORT": str(server.port),
        "MASTER_SECRET_ARN": master["ARN"],
        "TENANT_AUTH": "password",
        "NAME_PREFIX": prefix,
        "CA_BUNDLE": str(server.pki.ca_file),
    }


def tenant_password(secrets_client, tenant):
    return json.loads(secrets_client.get_secret_value(SecretId=tenant.secret_name(NAME_PREFIX))["SecretString"])[
        "password"
    ]


def test_first_run_creates_every_tenant(proxy_side):
    _, _, _, report = proxy_side
    assert report == {"created": TENANTS, "unchanged": 0, "failed": {}}


def test_all_rows_of_all_tenants_are_committed(proxy_side):
    server, *_ = proxy_side
    with server.connect() as fresh, fresh.cursor() as cursor:  # a new session sees only committed rows
        for tenant in all_tenants(TENANTS):
            cursor.execute(f"SELECT COUNT(*), MIN(ID), MAX(ID) FROM `{tenant.database}`.`{TENANT_TABLE}`")
            assert cursor.fetchone() == (ROWS_PER_TENANT, 1, ROWS_PER_TENANT), tenant
        last = all_tenants(TENANTS)[-1]
        cursor.execute(f"SELECT COUNT(DISTINCT A), MIN(E), MAX(E) FROM `{last.database}`.`{TENANT_TABLE}`")
        distinct, low, high = cursor.fetchone()
        assert distinct > ROWS_PER_TENANT * 0.9 and 0 <= low < high <= MAX_VALUE  # random integers


def test_secrets_hold_what_the_proxy_needs(proxy_side):
    server, secrets_client, _, _ = proxy_side
    passwords = set()
    for tenant in all_tenants(TENANTS):
        value = json.loads(secrets_client.get_secret_value(SecretId=tenant.secret_name(NAME_PREFIX))["SecretString"])
        assert set(value) == {"username", "password", "engine", "host", "port", "dbname"}
        assert (value["username"], value["dbname"], value["engine"]) == (tenant.db_user, tenant.database, "mysql")
        assert (value["host"], value["port"]) == (server.host, server.port)
        assert len(value["password"]) >= 32
        passwords.add(value["password"])
    assert len(passwords) == TENANTS


def test_each_user_reads_its_own_table_over_tls(proxy_side):
    server, secrets_client, _, _ = proxy_side
    for tenant in all_tenants(TENANTS):
        password = tenant_password(secrets_client, tenant)
        with server.connect(tenant.db_user, password, tenant.database) as connection, connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM `{TENANT_TABLE}`")
            assert cursor.fetchone() == (ROWS_PER_TENANT,)
            cursor.execute("SHOW STATUS LIKE 'Ssl_cipher'")
            assert cursor.fetchone()[1]


def test_no_tenant_has_any_privilege_on_another_tenants_database(proxy_side):
    server, *_ = proxy_side
    tenants = all_tenants(TENANTS)
    grantee = {f"'{t.db_user}'@'%'": t for t in tenants}
    reachable: dict[str, set[str]] = {g: set() for g in grantee}
    with server.connect() as connection, connection.cursor() as cursor:
        for view in ("SCHEMA_PRIVILEGES", "TABLE_PRIVILEGES", "COLUMN_PRIVILEGES"):
            cursor.execute(f"SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.{view}")
            for who, schema, privilege in cursor.fetchall():
                if who in reachable:
                    reachable[who].add(schema)
                    assert privilege == "SELECT", (who, schema, privilege)
        cursor.execute("SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES")
        for who, privilege in cursor.fetchall():
            if who in grantee:
                assert privilege == "USAGE", (who, privilege)  # no global privilege at all
    pairs = 0
    for (who, schemas), other in itertools.product(reachable.items(), tenants):
        if other is grantee[who]:
            assert schemas == {other.database}
            continue
        assert other.database not in schemas
        pairs += 1
    assert pairs == TENANTS * (TENANTS - 1) == 39_800


def test_real_cross_tenant_connections_are_refused(proxy_side):
    server, secrets_client, _, _ = proxy_side
    tenants = all_tenants(TENANTS)
    passwords = {t: tenant_password(secrets_client, t) for t in tenants}
    rng = random.Random(1044)
    attempts = 0
    while attempts < 1000:
        mine, theirs = rng.sample(tenants, 2)
        with pytest.raises(pymysql.err.OperationalError) as refused:
            server.connect(mine.db_user, passwords[mine], theirs.database).close()
        assert refused.value.args[0] == ACCESS_DENIED_TO_DATABASE
        attempts += 1


def test_rerun_changes_nothing(proxy_side):
    server, secrets_client, invoke, _ = proxy_side
    tenants = all_tenants(TENANTS)
    before = table_checksums(server, tenants)
    versions = {t: secrets_client.list_secret_version_ids(SecretId=t.secret_name(NAME_PREFIX)) for t in tenants[:20]}
    assert invoke() == {"created": 0, "unchanged": TENANTS, "failed": {}}
    assert table_checksums(server, tenants) == before
    for tenant, listed in versions.items():
        again = secrets_client.list_secret_version_ids(SecretId=tenant.secret_name(NAME_PREFIX))
        assert [v["VersionId"] for v in again["Versions"]] == [v["VersionId"] for v in listed["Versions"]]


def test_request_must_name_one_shard_of_tenants(proxy_side):
    *_, invoke, _ = proxy_side
    for first, last in [(5, 4), (0, 200), (-1, 3)]:
        with pytest.raises(Exception) as refused:
            invoke(first, last)
        assert "validation error" in str(refused.value).lower()


def test_growing_from_150_to_200_adds_exactly_50(mariadb_factory):
    server = mariadb_factory()
    store = MemorySecretStore()  # No Proxy stand-in: native passwords kept in memory, not IAM tokens
    first = seeder(server, store).seed(all_tenants(150))
    assert len(first.created) == 150 and not first.failed
    before = table_checksums(server, all_tenants(150))
    grown = seeder(server, store).seed(all_tenants(200))
    assert sorted(grown.created) == list(range(150, 200))
    assert sorted(grown.unchanged) == list(range(150))
    assert table_checksums(server, all_tenants(150)) == before
    assert store.puts == 200


def test_one_failing_tenant_is_reported_and_never_looks_complete(mariadb_factory):
    server = mariadb_factory()
    broken = Tenant(7)
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{broken.database}`")
        # A stray column without default: inserting the tenant's rows fails in strict mode.
        cursor.execute(
            f"CREATE TABLE `{broken.database}`.`{TENANT_TABLE}` (ID INT PRIMARY KEY, A INT, B INT, "
            "C INT, D INT, E INT, stray INT NOT NULL)"
        )
    store = MemorySecretStore(failing={Tenant(3).secret_name(NAME_PREFIX)})
    report = seeder(server, store).seed(all_tenants(10))
    assert sorted(report.failed) == [3, 7]
    assert sorted(report.created) == [0, 1, 2, 4, 5, 6, 8, 9]
    with server.connect() as connection, connection.cursor() as cursor:
        for tenant in (Tenant(3), broken):
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
                (f"'{tenant.db_user}'@'%'",),
            )
            assert cursor.fetchone() == (0,), f"{tenant} can log in to a half-made database"
        cursor.execute(f"SELECT COUNT(*) FROM `{broken.database}`.`{TENANT_TABLE}`")
        assert cursor.fetchone() == (0,)  # the failed insert was rolled back, not half-written
        cursor.execute(f"ALTER TABLE `{broken.database}`.`{TENANT_TABLE}` DROP COLUMN stray")
    repaired = seeder(server, store_without_failures(store)).seed(all_tenants(10))
    assert sorted(repaired.created) == [3, 7] and not repaired.failed


def store_without_failures(store: MemorySecretStore) -> MemorySecretStore:
    healed = MemorySecretStore()
    healed.values = store.values
    return healed


def test_handler_raises_with_the_failed_tenant_ids(mariadb_factory, aws, monkeypatch):
    server = mariadb_factory()
    for key, value in seeding_environment(server, aws, "rds!cluster-failing", "missing-secrets").items():
        monkeypatch.setenv(key, value)
    # No tenant secrets exist under this prefix, so writing each tenant's password fails.
    with pytest.raises(seed_handler.SeedingFailed, match="tenants not seeded: 0, 1, 2"):
        seed_handler.handler({"first_tenant": 0, "last_tenant": 2}, FakeLambdaContext())


def test_no_proxy_users_are_created_for_the_aws_auth_plugin():
    class RecordingCursor:
        def __init__(self):
            self.statements = []

        def execute(self, statement, args=()):
            self.statements.append(statement % tuple(f"'{a}'" for a in args))

    cursor = RecordingCursor()
    assert IamAuthenticatedUser().ensure_user(cursor, Tenant(5), exists=False) is True
    [statement] = cursor.statements
    assert statement == (
        "CREATE USER IF NOT EXISTS 'user5'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL"
    )
    assert IamAuthenticatedUser().ensure_user(cursor, Tenant(5), exists=True) is False
    assert len(cursor.statements) == 1


def test_connections_verify_the_server_certificate(mariadb_factory, tmp_path):
    server = mariadb_factory()
    stranger = make_pki(tmp_path / "other-ca")
    with pytest.raises(pymysql.err.OperationalError) as refused:
        db.connect(
            host=server.host,
            port=server.port,
            user=MASTER_USER,
            password=MASTER_PASSWORD,
            ca_file=str(stranger.ca_file),
        )
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert db.tls_context(str(server.pki.ca_file), server.host) is db.tls_context(str(server.pki.ca_file), server.host)


def test_without_sample_data_tenants_get_an_empty_table_for_their_own_rows(mariadb_factory, aws, monkeypatch):
    """load_sample_data = false: user, database, table, grant and secret, and no rows; loading the sample
    later adds rows, and switching it off again drops nothing."""
    server = mariadb_factory()
    prefix = "own-data"
    tenants = all_tenants(3)
    for tenant in tenants:
        aws.create_secret(Name=tenant.secret_name(prefix))
    for key, value in seeding_environment(server, aws, "rds!cluster-own-data", prefix).items():
        monkeypatch.setenv(key, value)

    def rows_seen_by_each_tenant():
        seen = []
        for tenant in tenants:
            password = json.loads(aws.get_secret_value(SecretId=tenant.secret_name(prefix))["SecretString"])["password"]
            with server.connect(tenant.db_user, password, tenant.database) as own, own.cursor() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM `{TENANT_TABLE}`")
                seen.append(cursor.fetchone()[0])
        return seen

    request = {"first_tenant": 0, "last_tenant": 2, "sample_rows": False}
    report = seed_handler.handler(request, FakeLambdaContext())
    assert report["created"] == 3 and not report["failed"]
    assert rows_seen_by_each_tenant() == [0, 0, 0]  # each tenant logs in and reads its own (empty) table
    assert seed_handler.handler(request, FakeLambdaContext())["unchanged"] == 3
    seed_handler.handler({"first_tenant": 0, "last_tenant": 2}, FakeLambdaContext())
    assert rows_seen_by_each_tenant() == [ROWS_PER_TENANT] * 3
    seed_handler.handler(request, FakeLambdaContext())
    assert rows_seen_by_each_tenant() == [ROWS_PER_TENANT] * 3
