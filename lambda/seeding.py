"""Create tenants in a cluster: user, own database, its table (1,000 sample rows unless told not to), and a
SELECT grant on that database only.

Idempotent and additive: a complete tenant is left untouched, a missing or half-made one is
completed, nothing is ever dropped. Each tenant's rows are committed before its user gets its
grant, so a tenant whose seeding failed part-way can never read a partial table (it has no grant
yet) and is reported by id.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import pymysql
from tenant_secrets import SecretStore

from constructs_lib.tenancy import ROWS_PER_TENANT, TENANT_TABLE, VALUE_COLUMNS, Tenant

MAX_VALUE = 1_000_000


class UserIdentity(Protocol):
    """How a tenant's DB user authenticates; the one part that differs between the two sides."""

    def ensure_user(self, cursor, tenant: Tenant, exists: bool) -> bool:
        """Create (or repair) the tenant's user; return whether anything changed."""


class IamAuthenticatedUser:
    """No Proxy side: the access function logs in with IAM auth tokens (Aurora's AWS plugin)."""

    def ensure_user(self, cursor, tenant: Tenant, exists: bool) -> bool:
        if exists:
            return False
        cursor.execute(
            "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
            (tenant.db_user,),
        )
        return True


@dataclass
class PasswordInSecretUser:
    """Proxy side: a native password the proxy reads from the tenant's secret.

    The secret is the source of truth: an existing password is kept; a missing or unreadable one
    is replaced by a fresh one, written to the secret first and then set on the user.
    """

    store: SecretStore
    name_prefix: str
    host: str
    port: int

    def ensure_user(self, cursor, tenant: Tenant, exists: bool) -> bool:
        secret_id = tenant.secret_name(self.name_prefix)
        current = self.store.get(secret_id)
        if exists and current and current.get("username") == tenant.db_user and current.get("password"):
            return False
        if current and current.get("password") and current.get("username") == tenant.db_user:
            password = current["password"]
        else:
            password = secrets.token_urlsafe(32)
            self.store.put(secret_id, self.secret_value(tenant, password))
        if exists:
            cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (tenant.db_user, password))
        else:
            cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s REQUIRE SSL", (tenant.db_user, password))
        return True

    def secret_value(self, tenant: Tenant, password: str) -> dict[str, object]:
        """What RDS Proxy needs to log in as the tenant (and what a human needs to find it)."""
        return {
            "username": tenant.db_user,
            "password": password,
            "engine": "mysql",
            "host": self.host,
            "port": self.port,
            "dbname": tenant.database,
        }


@dataclass
class SeedReport:
    created: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "created": len(self.created),
            "unchanged": len(self.unchanged),
            "failed": {str(tenant): reason for tenant, reason in sorted(self.failed.items())},
        }


class TenantSeeder:
    def __init__(
        self,
        connect: Callable[[], pymysql.connections.Connection],
        identity: UserIdentity,
        sample_rows: bool = True,
    ) -> None:
        self._connect = connect
        self._identity = identity
        self._sample_rows = sample_rows

    def seed(self, tenants: Iterable[Tenant]) -> SeedReport:
        report = SeedReport()
        connection = self._connect()
        try:
            existing_users = self._existing_users(connection)
            for tenant in tenants:
                try:
                    changed = self._seed_tenant(connection, tenant, tenant.db_user in existing_users)
                except Exception as error:  # one tenant's failure (SQL or AWS) must not stop the others
                    report.failed[tenant.id] = f"{type(error).__name__}: {error}"
                    connection = self._recover(connection)
                    continue
                (report.created if changed else report.unchanged).append(tenant.id)
        finally:
            connection.close()
        return report

    def _recover(self, connection):
        """Roll back the failed tenant's work; start a new connection if this one is gone."""
        try:
            connection.rollback()
            connection.ping(reconnect=False)
            return connection
        except pymysql.MySQLError:
            connection.close()
            return self._connect()

    @staticmethod
    def _existing_users(connection) -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT User FROM mysql.user WHERE Host = '%'")
            return {row[0] for row in cursor.fetchall()}

    def _seed_tenant(self, connection, tenant: Tenant, user_exists: bool) -> bool:
        database, table = f"`{tenant.database}`", f"`{tenant.database}`.`{TENANT_TABLE}`"
        changed = False
        with connection.cursor() as cursor:
            if not cursor.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (tenant.database,)
            ):
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
                changed = True
            columns = ", ".join(f"`{name}` INT NOT NULL" for name in VALUE_COLUMNS)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (`ID` INT NOT NULL PRIMARY KEY, {columns}) ENGINE=InnoDB"
            )
            # Rows are generated by the server, in one statement, for the IDs the table lacks: no
            # row travels over the network, and a half-filled table from a failed run is completed.
            value_columns = ", ".join(f"`{c}`" for c in VALUE_COLUMNS)
            random_values = ", ".join(f"FLOOR(RAND() * {MAX_VALUE + 1})" for _ in VALUE_COLUMNS)
            inserted = self._sample_rows and cursor.execute(
                f"INSERT INTO {table} (`ID`, {value_columns}) "
                f"WITH RECURSIVE ids (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM ids WHERE n < {ROWS_PER_TENANT}) "
                f"SELECT n, {random_values} FROM ids WHERE n NOT IN (SELECT `ID` FROM {table})"
            )
            if inserted:
                connection.commit()
                changed = True
            changed |= self._identity.ensure_user(cursor, tenant, user_exists)
            if not self._has_select_grant(cursor, tenant):
                cursor.execute(f"GRANT SELECT ON {database}.* TO %s@'%%'", (tenant.db_user,))
                changed = True
        connection.commit()
        return changed

    @staticmethod
    def _has_select_grant(cursor, tenant: Tenant) -> bool:
        cursor.execute(
            "SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES "
            "WHERE GRANTEE = %s AND TABLE_SCHEMA = %s AND PRIVILEGE_TYPE = 'SELECT'",
            (f"'{tenant.db_user}'@'%'", tenant.database),
        )
        return cursor.fetchone() is not None
