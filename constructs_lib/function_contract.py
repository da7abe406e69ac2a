"""The contract between the stack and the functions: their environment, trust stores, and tenant sessions.

The access construct writes ``AccessConfig.to_environment()``; the handler reads
``AccessConfig.from_environment()``; the preflight gate reads the synthesized environment back the same
way to size what the function sends to STS, and settings size the environment before synth. Pure
Python on purpose: the Lambda bundle ships this file as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from constructs_lib import endpoints, tenancy
from constructs_lib.tenancy import MYSQL_PORT, SHARD_PLACEHOLDER, TENANT_TAG, Tenant, db_user_arn, shard_count

# Where the packaged trust stores live inside the function (relative to the task root).
AMAZON_ROOT_CA_FILE = "certs/amazon-root-ca.pem"  # RDS Proxy's certificates chain to these
RDS_CA_FILE = "certs/rds-ca.pem"  # Aurora's certificates chain to the RDS CAs
LOG_LEVEL = "INFO"
_ENDPOINTS, _RESOURCE_IDS, _PORT = "DB_ENDPOINTS", "DB_RESOURCE_IDS", "DB_PORT"
_ARN_PREFIX, _ROLE, _COUNT = "DB_USER_ARN_PREFIX", "TENANT_ROLE_ARN", "TENANT_COUNT"
_MAX_CONNECTIONS, _CA = "MAX_TENANT_CONNECTIONS", "CA_BUNDLE"
_MODE, _MAX_AGE = "DB_MODE", "DB_MAX_AGE"  # short: at 7,200 tenants the environment is within 40 B of 4 KB
KEYS = (_ENDPOINTS, _RESOURCE_IDS, _PORT, _ARN_PREFIX, _ROLE, _COUNT, _MAX_CONNECTIONS, _MODE, _MAX_AGE, _CA)
# An RDS IAM auth token is valid for 15 minutes, and checked only when a connection logs in:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.html
IAM_TOKEN_LIFETIME_SECONDS = 900
ConnectionMode = Literal["kept", "per_request"]
CONNECTION_MODES: tuple[str, ...] = get_args(ConnectionMode)
# What the function remembers between requests in "kept" mode (per tenant and shard target).
KEPT_CREDENTIAL_ENTRIES = 512
# Tenant sessions and tokens: renew credentials 5 minutes before they expire; a token lives 15 minutes, use
# each for 10 at most.
CREDENTIAL_REFRESH_MARGIN_SECONDS = 300
TOKEN_REUSE_SECONDS = 600
# STS packs the session policy and tags into a binary form whose limit AWS gives only as a percentage in
# each answer (PackedPolicySize); the preflight gate bounds the plain text, the functions log the rest.
PACKED_POLICY_WARNING_PERCENT = 90
# STS throttles or fails: a few bounded attempts, so a request ends well inside the function's timeout
# (a 502 JSON) instead of waiting on STS.
STS_MAX_ATTEMPTS, STS_CONNECT_TIMEOUT_SECONDS, STS_READ_TIMEOUT_SECONDS = 3, 2, 3
DB_CONNECT_TIMEOUT_SECONDS, DB_READ_TIMEOUT_SECONDS = 5, 10
ROWS_PER_REQUEST = 5
# ``GET /?tenant=N``: ASCII digits only, no sign, no leading zeros, no space, at most 6 digits.
TENANT_ID_PATTERN = "0|[1-9][0-9]{0,5}"
# A direct invocation carrying this key (and no API Gateway requestContext) runs the isolation check.
ISOLATION_CHECK_EVENT_KEY = "isolation_check"
# What a request that could not be answered gets: a JSON error class and its status, never internals.
FAILURE_STATUS = {"database_unavailable": 503, "credentials_unavailable": 502, "internal_error": 500}
# The access function comes in two runtimes with this one contract; the Node.js one reads it from the
# JSON ``runtime_contract()`` writes into its package.
AccessRuntime = Literal["python", "nodejs"]
# Lambda's identifier per language (the preflight gate and settings check them against Lambda's schedule).
LAMBDA_RUNTIME_IDS: dict[str, str] = {"python": "python3.12", "nodejs": "nodejs22.x"}


def lambda_environment(service_name: str, variables: Mapping[str, str]) -> dict[str, str]:
    """Every function's environment: Powertools' service name and log level, then its own variables."""
    return {"POWERTOOLS_SERVICE_NAME": service_name, "POWERTOOLS_LOG_LEVEL": LOG_LEVEL, **variables}


def environment_bytes(environment: Mapping[str, str]) -> int:
    """What counts against Lambda's 4 KB: every key and value."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in environment.items())


@dataclass(frozen=True)
class ShardTarget:
    """Where a tenant's connections go, and the role its credentials come from."""

    endpoint: str
    role_arn: str
    db_user_arn_prefix: str  # arn:<partition>:rds-db:<region>:<account>:dbuser:
    resource_id: str  # prx-... (proxy) or cluster-... (cluster)
    port: int = MYSQL_PORT

    def db_user_arn(self, tenant: Tenant) -> str:
        return db_user_arn(self.db_user_arn_prefix, self.resource_id, tenant.db_user)


@dataclass(frozen=True)
class ConnectionPolicy:
    """What one function instance keeps between requests.

    ``kept``: per-tenant credentials, tokens and TLS connections are reused; at most ``max_kept``
    connections (least recently used closed first), none older than ``max_age_seconds``, so access
    revoked in IAM is checked again at the next login within one token lifetime.
    ``per_request``: the original sample's function, nothing kept: AssumeRole, a new token and a new TLS
    connection for every request, closed after it.
    """

    mode: ConnectionMode = "kept"
    max_kept: int = 16
    max_age_seconds: int = IAM_TOKEN_LIFETIME_SECONDS

    def __post_init__(self) -> None:
        if self.mode not in CONNECTION_MODES:
            raise ValueError(f"connection mode is one of {', '.join(CONNECTION_MODES)}, not {self.mode!r}")
        if self.max_kept < 1:
            raise ValueError("max_kept must be positive")
        if not 1 <= self.max_age_seconds <= IAM_TOKEN_LIFETIME_SECONDS:
            raise ValueError(f"max_age_seconds must be 1..{IAM_TOKEN_LIFETIME_SECONDS} (an IAM token's lifetime)")

    @property
    def per_request(self) -> bool:
        return self.mode == "per_request"

    @property
    def credential_entries(self) -> int:
        """How many tenants' credentials and tokens an instance remembers: none in per_request mode."""
        return 0 if self.per_request else KEPT_CREDENTIAL_ENTRIES


@dataclass(frozen=True)
class AccessConfig:
    """Everything the access function is told. Each shard of 200 tenants has its own tenant-access role
    (``tenant_role_arn`` is a template holding ``{shard}``: Lambda's environment is limited to 4 KB) and
    either its own endpoint (one RDS Proxy per shard) or the one every shard shares (the No Proxy
    cluster): ``endpoints`` and ``resource_ids`` list one per shard, or one for all."""

    endpoints: Sequence[str]
    resource_ids: Sequence[str]
    tenant_role_arn: str
    db_user_arn_prefix: str
    tenant_count: int
    connections: ConnectionPolicy
    ca_file: str
    port: int = MYSQL_PORT

    def __post_init__(self) -> None:
        if self.tenant_count < 1:
            raise ValueError("tenant_count must be positive")
        if len(self.endpoints) != len(self.resource_ids) or len(self.endpoints) not in (1, self.shard_count):
            raise ValueError(f"list one endpoint and resource id per shard ({self.shard_count}), or one for all")
        if self.shard_count > 1 and SHARD_PLACEHOLDER not in self.tenant_role_arn:
            raise ValueError(f"several shards need a tenant role ARN template with {SHARD_PLACEHOLDER}")

    @property
    def shard_count(self) -> int:
        return shard_count(self.tenant_count)

    def to_environment(self) -> dict[str, str]:
        return {
            _ENDPOINTS: ",".join(self.endpoints),
            _RESOURCE_IDS: ",".join(self.resource_ids),
            _PORT: str(self.port),
            _ARN_PREFIX: self.db_user_arn_prefix,
            _ROLE: self.tenant_role_arn,
            _COUNT: str(self.tenant_count),
            _MAX_CONNECTIONS: str(self.connections.max_kept),
            _MODE: self.connections.mode,
            _MAX_AGE: str(self.connections.max_age_seconds),
            _CA: self.ca_file,
            # STS through the VPC's interface endpoint, which serves the regional name.
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        }

    @staticmethod
    def from_environment(env: Mapping[str, str]) -> AccessConfig:
        missing = [key for key in KEYS if key not in env]
        if missing:
            raise KeyError(f"access function environment lacks {', '.join(missing)}")
        return AccessConfig(
            endpoints=[item for item in env[_ENDPOINTS].split(",") if item],
            resource_ids=[item for item in env[_RESOURCE_IDS].split(",") if item],
            tenant_role_arn=env[_ROLE],
            db_user_arn_prefix=env[_ARN_PREFIX],
            tenant_count=int(env[_COUNT]),
            connections=ConnectionPolicy(
                mode=env[_MODE], max_kept=int(env[_MAX_CONNECTIONS]), max_age_seconds=int(env[_MAX_AGE])
            ),
            ca_file=env[_CA],
            port=int(env[_PORT]),
        )

    @staticmethod
    def describes(env: Mapping[str, str]) -> bool:
        """Whether an environment is an access function's."""
        return all(key in env for key in KEYS)

    def target(self, shard: int) -> ShardTarget:
        """Where shard ``shard``'s tenants connect, and the role their credentials come from."""
        index = shard if len(self.endpoints) > 1 else 0
        return ShardTarget(
            endpoint=self.endpoints[index],
            role_arn=self.tenant_role_arn.replace(SHARD_PLACEHOLDER, str(shard)),
            db_user_arn_prefix=self.db_user_arn_prefix,
            resource_id=self.resource_ids[index],
            port=self.port,
        )

    @property
    def targets(self) -> list[ShardTarget]:
        """One per shard."""
        return [self.target(shard) for shard in range(self.shard_count)]

    def target_of(self, tenant: Tenant) -> ShardTarget:
        return self.target(tenant.shard)


def session_policy(tenant: Tenant, target: ShardTarget) -> str:
    """The inline session policy: defence in depth on top of the role's tag-scoped permission."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "rds-db:connect", "Resource": target.db_user_arn(tenant)}],
        }
    )


def session_tags(tenant: Tenant) -> list[dict[str, str]]:
    return [{"Key": TENANT_TAG, "Value": str(tenant.id)}]


def runtime_contract() -> dict:
    """This module's contract (and tenancy's and endpoints' rules) as JSON, for the Node.js access function:
    it reads these names and numbers from its package instead of keeping copies."""
    return {
        "environment": {
            "endpoints": _ENDPOINTS,
            "resource_ids": _RESOURCE_IDS,
            "port": _PORT,
            "db_user_arn_prefix": _ARN_PREFIX,
            "tenant_role_arn": _ROLE,
            "tenant_count": _COUNT,
            "max_kept": _MAX_CONNECTIONS,
            "mode": _MODE,
            "max_age_seconds": _MAX_AGE,
            "ca_file": _CA,
        },
        "connection_modes": list(CONNECTION_MODES),
        "iam_token_lifetime_seconds": IAM_TOKEN_LIFETIME_SECONDS,
        "kept_credential_entries": KEPT_CREDENTIAL_ENTRIES,
        "credential_refresh_margin_seconds": CREDENTIAL_REFRESH_MARGIN_SECONDS,
        "token_reuse_seconds": TOKEN_REUSE_SECONDS,
        "packed_policy_warning_percent": PACKED_POLICY_WARNING_PERCENT,
        "sts": {
            "max_attempts": STS_MAX_ATTEMPTS,
            "connect_timeout_seconds": STS_CONNECT_TIMEOUT_SECONDS,
            "read_timeout_seconds": STS_READ_TIMEOUT_SECONDS,
        },
        "db": {"connect_timeout_seconds": DB_CONNECT_TIMEOUT_SECONDS, "read_timeout_seconds": DB_READ_TIMEOUT_SECONDS},
        "rows_per_request": ROWS_PER_REQUEST,
        "tenant_id_pattern": TENANT_ID_PATTERN,
        "isolation_check_event_key": ISOLATION_CHECK_EVENT_KEY,
        "failure_status": FAILURE_STATUS,
        "tenancy": {
            "db_user_prefix": tenancy.DB_USER_PREFIX,
            "database_prefix": tenancy.DATABASE_PREFIX,
            "table": tenancy.TENANT_TABLE,
            "value_columns": list(tenancy.VALUE_COLUMNS),
            "rows_per_tenant": tenancy.ROWS_PER_TENANT,
            "tenants_per_shard": tenancy.MAX_TENANTS_PER_PROXY,
            "shard_placeholder": SHARD_PLACEHOLDER,
            "tenant_tag": TENANT_TAG,
            "session_seconds": tenancy.SESSION_SECONDS,
        },
        # JavaScript spells named groups without the P.
        "custom_proxy_endpoint_pattern": endpoints.CUSTOM_PROXY_ENDPOINT.pattern.replace("(?P<", "(?<"),
    }
