"""Read a tenant's data, over a connection kept per tenant (``kept``) or opened per request (``per_request``).

Kept connections are bounded (the least recently used is closed when the bound is reached) and
aged (one older than the policy's maximum age is closed and logged in again, with a fresh token,
so IAM decides again). A kept connection is not pinged before use: the query itself tells whether
it is dead, and a dead one is replaced once. Any other failure closes the connection before it
propagates. ``per_request`` keeps nothing: the original sample's design, for comparison.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pymysql
from tenant_access import BoundedCache

from constructs_lib.function_contract import ROWS_PER_REQUEST, ConnectionPolicy, ShardTarget
from constructs_lib.tenancy import ROWS_PER_TENANT, TENANT_TABLE, VALUE_COLUMNS, Tenant

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


@dataclass
class ConnectionStats:
    """What one instance did: requests answered, connections opened, requests served on a kept connection."""

    requests: int = 0
    opened: int = 0
    reused: int = 0

    @property
    def hit_rate(self) -> float:
        return self.reused / self.requests if self.requests else 0.0

    @property
    def opened_per_thousand(self) -> float:
        return 1000 * self.opened / self.requests if self.requests else 0.0


@dataclass
class _Kept:
    connection: pymysql.connections.Connection
    opened_at: float


def _close_kept(kept: _Kept) -> None:
    _close_quietly(kept.connection)


def random_ids(rng: random.Random) -> list[int]:
    return rng.sample(range(1, ROWS_PER_TENANT + 1), ROWS_PER_REQUEST)


def query_rows(connection: pymysql.connections.Connection, ids: list[int]) -> list[dict[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(QUERY, ids)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


class TenantData:
    """A tenant's rows, on connections the policy says to keep or not."""

    def __init__(
        self,
        route: Callable[[Tenant], ShardTarget],
        passwords: PasswordSource,
        connect: Connector,
        policy: ConnectionPolicy,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._route = route
        self.passwords = passwords
        self.connect = connect
        self.policy = policy
        self._connections: BoundedCache[int, _Kept] = BoundedCache(policy.max_kept, on_evict=_close_kept)
        self._rng = rng or random.Random()
        self._clock = clock
        self.stats = ConnectionStats()

    def random_rows(self, tenant: Tenant) -> list[dict[str, int]]:
        self.stats.requests += 1
        ids = random_ids(self._rng)
        if self.policy.per_request:
            connection = self._open(tenant)
            try:
                return query_rows(connection, ids)
            finally:
                _close_quietly(connection)
        for attempt in (1, 2):
            connection = self._kept_connection(tenant)
            try:
                return query_rows(connection, ids)
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
        kept = self._connections.pop(tenant.id)
        if kept is not None:
            _close_kept(kept)

    def kept(self, tenant: Tenant) -> pymysql.connections.Connection | None:
        """The connection kept for ``tenant``, if any (without counting as a use)."""
        kept = self._connections.peek(tenant.id)
        return kept.connection if kept else None

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def close(self) -> None:
        """Close every kept connection (an instance shutting down)."""
        self._connections.clear()

    def _kept_connection(self, tenant: Tenant) -> pymysql.connections.Connection:
        kept = self._connections.get(tenant.id)
        if kept is not None and self._clock() - kept.opened_at >= self.policy.max_age_seconds:
            self.forget(tenant)  # log in again: IAM decides again at least once per token lifetime
            kept = None
        if kept is not None:
            self.stats.reused += 1
            return kept.connection
        self._connections.make_room()  # close first: an instance never holds more than its bound, even briefly
        opened_at = self._clock()
        connection = self._open(tenant)
        self._connections.put(tenant.id, _Kept(connection, opened_at))
        return connection

    def _open(self, tenant: Tenant) -> pymysql.connections.Connection:
        target = self._route(tenant)
        connection = self.connect(
            host=target.endpoint,
            port=target.port,
            user=tenant.db_user,
            password=self.passwords.password(tenant, target),
            database=tenant.database,
            autocommit=True,
        )
        self.stats.opened += 1
        return connection
