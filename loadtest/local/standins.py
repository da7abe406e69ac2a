"""Stand-ins for AWS-only parts: secrets kept in memory, and native passwords in place of IAM tokens."""

from __future__ import annotations

from typing import Any


class MemorySecretStore:
    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.puts = 0
        self._failing = failing

    def get(self, secret_id: str) -> dict[str, Any] | None:
        if secret_id in self._failing:
            raise ConnectionError(f"injected failure reading {secret_id}")
        return self.values.get(secret_id)

    def put(self, secret_id: str, value: dict[str, Any]) -> None:
        self.values[secret_id] = value
        self.puts += 1


class NativePasswordAfterAssumeRole:
    """Assume the tenant's role as on AWS, then log in with the seeded native password.

    MariaDB cannot check IAM auth tokens; this is the one step that differs from AWS.
    """

    def __init__(self, credentials, store: MemorySecretStore, name_prefix: str) -> None:
        self.credentials, self.store, self.name_prefix = credentials, store, name_prefix

    def password(self, tenant, target):
        self.credentials.get(tenant, target)
        return self.store.values[tenant.secret_name(self.name_prefix)]["password"]

    def password_as(self, session, session_target, user, user_target):
        """``session``'s own role and password, offered for ``user``'s login (the isolation check's attempt)."""
        self.credentials.get(session, session_target)
        return self.store.values[session.secret_name(self.name_prefix)]["password"]


class NativePasswordAfterIamToken:
    """The whole token path as on AWS (tenant session, token signed with it, reuse as the policy says),
    then the seeded native password for the login MariaDB can check."""

    def __init__(self, tokens, store: MemorySecretStore, name_prefix: str) -> None:
        self.tokens, self.store, self.name_prefix = tokens, store, name_prefix

    def password(self, tenant, target):
        self.tokens.password(tenant, target)
        return self.store.values[tenant.secret_name(self.name_prefix)]["password"]

    def password_as(self, session, session_target, user, user_target):
        """The token path with ``session``'s credentials for ``user``, then ``session``'s own password: what
        MariaDB can check of a token signed by the wrong tenant (it is not ``user``'s)."""
        self.tokens.password_as(session, session_target, user, user_target)
        return self.store.values[session.secret_name(self.name_prefix)]["password"]
