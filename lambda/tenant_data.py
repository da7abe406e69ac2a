"""Read a tenant's data over a per-tenant connection that warm invocations reuse.

Connections are kept per tenant (bounded; the least recently used is closed when the bound is
reached). A kept connection is not pinged before use: the query itself tells whether it is dead,
and a dead one is replaced once. Any other failure closes the connection before it propagates.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Protocol

import pymysql
from tenant_access import BoundedCache

from constructs_lib.function_contract import ShardTarget
from constructs_lib.tenancy import ROWS_PER_TENANT, TENANT_TABLE, VALUE_COLUMNS, Tenant

ROWS_PER_REQUEST = 5
# Client-side "connection is gone" errors: server gone away, lost during query, lost at handshake.
CONNECTION_LOST = frozenset({2006, 2013, 2055})
QUERY = (
    f"SELECT `ID`, {', '.join(f'`{c}`' for c in VALUE_COLUMNS)} FROM `{TENANT_TABLE}` "
    f"WHERE `ID` IN ({', '.join(['%s'] * ROWS_PER_REQUEST)}) ORDER BY `ID`"
)


class PasswordSource(Protocol):
    """What the tenant's DB user logs in with: an IAM auth token on AWS, a native password in tests."""

    def password(self, tenant: Tenant, target: ShardTarget) -> str: ...


Connector = Callable[..., pymysql.connections.Connection]


def _close_quietly(connection: pymysql.connections.Connection) -> None:
    with contextlib.suppress(pymysql.Error):  # already closed or broken: nothing left to release
        connection.close()


class TenantData:
    def __init__(
        self,
        route: Callable[[Tenant], ShardTarget],
        passwords: PasswordSource,
        connect: Connector,
        max_connections: int,
        rng: random.Random | None = None,
    ) -> None:
        self._route = route
        self._passwords = passwords
        self._connect = connect
        self._connections: BoundedCache[int, pymysql.connections.Connection] = BoundedCache(
            max_connections, on_evict=_close_quietly
        )
        self._rng = rng or random.Random()

    def random_rows(self, tenant: Tenant) -> list[dict[str, int]]:
        ids = self._rng.sample(range(1, ROWS_PER_TENANT + 1), ROWS_PER_REQUEST)
        for attempt in (1, 2):
            connection = self._connection(tenant)
            try:
                return self._query(connection, ids)
            except pymysql.OperationalError as error:
                self.forget(tenant)
                if attempt == 1 and error.args and error.args[0] in CONNECTION_LOST:
                    continue  # the kept connection had died: open a new one, once
                raise
            except BaseException:
                self.forget(tenant)
                raise
        raise AssertionError("unreachable")

    def forget(self, tenant: Tenant) -> None:
        connection = self._connections.pop(tenant.id)
        if connection is not None:
            _close_quietly(connection)

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def _connection(self, tenant: Tenant) -> pymysql.connections.Connection:
        connection = self._connections.get(tenant.id)
        if connection is None:
            target = self._route(tenant)
            connection = self._connect(
                host=target.endpoint,
                port=target.port,
                user=tenant.db_user,
                password=self._passwords.password(tenant, target),
                database=tenant.database,
                autocommit=True,
            )
            self._connections.put(tenant.id, connection)
        return connection

    @staticmethod
    def _query(connection: pymysql.connections.Connection, ids: list[int]) -> list[dict[str, int]]:
        with connection.cursor() as cursor:
            cursor.execute(QUERY, ids)
            columns = [column[0] for column in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
