"""Per-tenant AWS credentials and RDS IAM auth tokens: scoped to one tenant, reused while valid.

The access function never holds database permissions itself. For tenant N it assumes the
tenant-access role of N's shard with the session tag ``tenant=N`` (the role's policy grants
``rds-db:connect`` on ``user${aws:PrincipalTag/tenant}`` only) and an inline session policy naming
``user{N}`` alone, then signs an auth token for ``user{N}`` with those credentials.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import boto3
import botocore.config
import botocore.session

from constructs_lib.function_contract import (
    CREDENTIAL_REFRESH_MARGIN_SECONDS,
    PACKED_POLICY_WARNING_PERCENT,
    STS_CONNECT_TIMEOUT_SECONDS,
    STS_MAX_ATTEMPTS,
    STS_READ_TIMEOUT_SECONDS,
    TOKEN_REUSE_SECONDS,
    ShardTarget,
    session_policy,
    session_tags,
)
from constructs_lib.tenancy import SESSION_SECONDS, Tenant

# Exponential backoff with jitter between the bounded attempts.
STS_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "total_max_attempts": STS_MAX_ATTEMPTS},
    connect_timeout=STS_CONNECT_TIMEOUT_SECONDS,
    read_timeout=STS_READ_TIMEOUT_SECONDS,
)

logger = logging.getLogger(__name__)


def sts_client(region: str, endpoint_url: str | None = None):
    """STS through the VPC's regional endpoint, with bounded retries."""
    return boto3.client("sts", region_name=region, endpoint_url=endpoint_url, config=STS_CONFIG)


K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """Least-recently-used mapping with a size bound; ``on_evict`` releases what falls out. A bound of 0
    keeps nothing (per_request mode)."""

    def __init__(self, max_entries: int, on_evict: Callable[[V], None] = lambda value: None) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._max = max_entries
        self._on_evict = on_evict
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                _, evicted = self._entries.popitem(last=False)
                self._on_evict(evicted)

    def make_room(self) -> None:
        """Release the least recently used entries until one more fits (before opening what it will hold)."""
        with self._lock:
            while self._entries and len(self._entries) >= self._max:
                _, evicted = self._entries.popitem(last=False)
                self._on_evict(evicted)

    def peek(self, key: K) -> V | None:
        with self._lock:
            return self._entries.get(key)

    def clear(self) -> None:
        """Release every entry."""
        with self._lock:
            while self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._on_evict(evicted)

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class TenantCredentials:
    access_key: str
    secret_key: str
    token: str
    expires_at: float


class TenantCredentialSource:
    """Assume the tenant's role for tenant N only; reuse the credentials until shortly before expiry."""

    def __init__(self, sts_client, clock: Callable[[], float] = time.time, max_entries: int = 512) -> None:
        self._sts = sts_client
        self._clock = clock
        # Keyed by tenant *and* target: credentials are for one tenant on one shard's role, never reused
        # for another tenant or another role.
        self._cache: BoundedCache[tuple[int, ShardTarget], TenantCredentials] = BoundedCache(max_entries)

    def get(self, tenant: Tenant, target: ShardTarget) -> TenantCredentials:
        cached = self._cache.get((tenant.id, target))
        if cached and cached.expires_at - CREDENTIAL_REFRESH_MARGIN_SECONDS > self._clock():
            return cached
        response = self._sts.assume_role(
            RoleArn=target.role_arn,
            RoleSessionName=f"tenant-{tenant.id}",
            DurationSeconds=SESSION_SECONDS,
            Policy=session_policy(tenant, target),
            Tags=session_tags(tenant),
        )
        packed = response.get("PackedPolicySize")
        if packed is not None and packed >= PACKED_POLICY_WARNING_PERCENT:
            logger.warning("session policy and tags at %s%% of STS's packed size limit", packed)
        raw = response["Credentials"]
        credentials = TenantCredentials(
            raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], raw["Expiration"].timestamp()
        )
        self._cache.put((tenant.id, target), credentials)
        return credentials


@dataclass(frozen=True)
class _Token:
    value: str
    usable_until: float


class IamAuthTokens:
    """RDS IAM auth tokens for ``user{N}``, signed with tenant N's credentials, reused for 10 minutes."""

    def __init__(
        self,
        region: str,
        credentials: TenantCredentialSource,
        clock: Callable[[], float] = time.time,
        max_entries: int = 512,
    ) -> None:
        self._region = region
        self._credentials = credentials
        self._clock = clock
        self._botocore = botocore.session.get_session()  # loads the RDS model once per process
        self._tokens: BoundedCache[tuple[int, ShardTarget], _Token] = BoundedCache(max_entries)

    def password_as(self, session: Tenant, session_target: ShardTarget, user: Tenant, user_target: ShardTarget) -> str:
        """A token for ``user`` signed with ``session``'s credentials, never kept: what the isolation check tries
        (IAM refuses it at login unless the two are the same tenant)."""
        return self._sign(self._credentials.get(session, session_target), user_target, user)

    def password(self, tenant: Tenant, target: ShardTarget) -> str:
        now = self._clock()
        cached = self._tokens.get((tenant.id, target))
        if cached and cached.usable_until > now:
            return cached.value
        credentials = self._credentials.get(tenant, target)
        token = self._sign(credentials, target, tenant)
        # A token is only as good as the credentials that signed it.
        usable_until = min(now + TOKEN_REUSE_SECONDS, credentials.expires_at - CREDENTIAL_REFRESH_MARGIN_SECONDS)
        self._tokens.put((tenant.id, target), _Token(token, usable_until))
        return token

    def _sign(self, credentials: TenantCredentials, target: ShardTarget, user: Tenant) -> str:
        """An auth token for ``user`` at ``target``, signed with ``credentials`` (locally, no AWS call)."""
        client = self._botocore.create_client(
            "rds",
            region_name=self._region,
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
        )
        return client.generate_db_auth_token(target.endpoint, target.port, user.db_user, self._region)
