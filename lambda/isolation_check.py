"""Cross-tenant access, tried on purpose through the function's own code path: the blog's console edit, as a
check the deployer runs.

For tenants A and B it logs in as A to A's database (the check must be able to log in at all), then
tries what isolation forbids: B's user with a token A's session signed, A's user on B's database, and
A reading B's table by name. Each attempt records the server's own answer ("Access denied for user
'user100'@'%' to database 'user_database101'"). Only a direct invocation reaches it (API Gateway
never sends a top-level ``isolation_check`` key), so only principals allowed to invoke the function
(the deployer) can run it; it reads no tenant rows, whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import pymysql
from pydantic import BaseModel, Field, model_validator

from constructs_lib.function_contract import ISOLATION_CHECK_EVENT_KEY as EVENT_KEY
from constructs_lib.function_contract import ShardTarget
from constructs_lib.tenancy import TENANT_TABLE, Tenant


class CrossTenantPasswords(Protocol):
    """A login secret for ``user``'s DB user at ``user_target``, made with ``session``'s own credentials (its
    tenant-access session on its own shard): on AWS, an IAM token that tenant's session signed."""

    def password_as(
        self, session: Tenant, session_target: ShardTarget, user: Tenant, user_target: ShardTarget
    ) -> str: ...


class CheckRequest(BaseModel):
    tenant: int = Field(ge=0)
    other: int = Field(ge=0)

    @model_validator(mode="after")
    def _two_tenants(self) -> CheckRequest:
        if self.tenant == self.other:
            raise ValueError("name two different tenants")
        return self


def requested(event: Any) -> CheckRequest | None:
    """The check a direct invocation asks for; None for anything API Gateway sends."""
    if not isinstance(event, dict) or EVENT_KEY not in event or "requestContext" in event:
        return None
    return CheckRequest.model_validate(event[EVENT_KEY])


@dataclass(frozen=True)
class Attempt:
    kind: str
    user: str
    database: str | None
    expected: str  # "allowed" or "denied"
    outcome: str
    errno: int | None = None
    message: str | None = None

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.expected


def _try(
    kind: str, user: Tenant, database: str | None, expected: str, login: Callable[[], Any], statement: str | None = None
) -> Attempt:
    try:
        connection = login()
        try:
            if statement:
                with connection.cursor() as cursor:
                    cursor.execute(statement)
                    cursor.fetchall()  # read and dropped: the check reports outcomes, never rows
        finally:
            connection.close()
    except pymysql.MySQLError as error:
        errno = error.args[0] if error.args else None
        message = str(error.args[1]) if len(error.args) > 1 else str(error)
        return Attempt(kind, user.db_user, database, expected, "denied", errno, message)
    return Attempt(kind, user.db_user, database, expected, "allowed")


def run(
    a: Tenant,
    b: Tenant,
    route: Callable[[Tenant], ShardTarget],
    passwords: CrossTenantPasswords,
    connect: Callable[..., Any],
) -> dict[str, Any]:
    def login(session: Tenant, user: Tenant, database: str | None) -> Callable[[], Any]:
        target = route(user)
        return lambda: connect(
            host=target.endpoint,
            port=target.port,
            user=user.db_user,
            password=passwords.password_as(session, route(session), user, target),
            database=database,
            autocommit=True,
        )

    attempts = [
        _try("own user on own database", a, a.database, "allowed", login(a, a, a.database)),
        _try(
            f"tenant {b.id}'s user with tenant {a.id}'s credentials", b, b.database, "denied", login(a, b, b.database)
        ),
        _try(f"tenant {a.id}'s user on tenant {b.id}'s database", a, b.database, "denied", login(a, a, b.database)),
        _try(
            f"tenant {a.id}'s user reading tenant {b.id}'s table by name",
            a,
            None,
            "denied",
            login(a, a, None),
            f"SELECT COUNT(*) FROM `{b.database}`.`{TENANT_TABLE}`",
        ),
    ]
    return {
        "tenant": a.id,
        "other": b.id,
        "isolated": all(attempt.as_expected for attempt in attempts),
        "attempts": [asdict(attempt) for attempt in attempts],
    }
