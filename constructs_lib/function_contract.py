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

from constructs_lib.tenancy import MYSQL_PORT, SHARD_PLACEHOLDER, TENANT_TAG, Tenant, db_user_arn

# Where the packaged trust stores live inside the function (relative to the task root).
AMAZON_ROOT_CA_FILE = "certs/amazon-root-ca.pem"  # RDS Proxy's certificates chain to these
RDS_CA_FILE = "certs/rds-ca.pem"  # Aurora's certificates chain to the RDS CAs
LOG_LEVEL = "INFO"
_ENDPOINTS, _RESOURCE_IDS, _PORT = "DB_ENDPOINTS", "DB_RESOURCE_IDS", "DB_PORT"
_ARN_PREFIX, _ROLE, _COUNT = "DB_USER_ARN_PREFIX", "TENANT_ROLE_ARN", "TENANT_COUNT"
_MAX_CONNECTIONS, _CA = "MAX_TENANT_CONNECTIONS", "CA_BUNDLE"
KEYS = (_ENDPOINTS, _RESOURCE_IDS, _PORT, _ARN_PREFIX, _ROLE, _COUNT, _MAX_CONNECTIONS, _CA)


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
class AccessConfig:
    """Everything the access function is told. Endpoints and resource ids are listed per shard;
    the role ARN is a template holding ``{shard}`` (Lambda's environment is limited to 4 KB)."""

    endpoints: Sequence[str]
    resource_ids: Sequence[str]
    tenant_role_arn: str
    db_user_arn_prefix: str
    tenant_count: int
    max_tenant_connections: int
    ca_file: str
    port: int = MYSQL_PORT

    def __post_init__(self) -> None:
        if not len(self.endpoints) == len(self.resource_ids) >= 1:
            raise ValueError("endpoints and resource ids must list the same shards, at least one")
        if len(self.endpoints) > 1 and SHARD_PLACEHOLDER not in self.tenant_role_arn:
            raise ValueError(f"several shards need a tenant role ARN template with {SHARD_PLACEHOLDER}")
        if self.tenant_count < 1 or self.max_tenant_connections < 1:
            raise ValueError("tenant_count and max_tenant_connections must be positive")

    def to_environment(self) -> dict[str, str]:
        return {
            _ENDPOINTS: ",".join(self.endpoints),
            _RESOURCE_IDS: ",".join(self.resource_ids),
            _PORT: str(self.port),
            _ARN_PREFIX: self.db_user_arn_prefix,
            _ROLE: self.tenant_role_arn,
            _COUNT: str(self.tenant_count),
            _MAX_CONNECTIONS: str(self.max_tenant_connections),
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
            max_tenant_connections=int(env[_MAX_CONNECTIONS]),
            ca_file=env[_CA],
            port=int(env[_PORT]),
        )

    @staticmethod
    def describes(env: Mapping[str, str]) -> bool:
        """Whether an environment is an access function's."""
        return all(key in env for key in KEYS)

    @property
    def targets(self) -> list[ShardTarget]:
        return [
            ShardTarget(
                endpoint=endpoint,
                role_arn=self.tenant_role_arn.replace(SHARD_PLACEHOLDER, str(index)),
                db_user_arn_prefix=self.db_user_arn_prefix,
                resource_id=resource_id,
                port=self.port,
            )
            for index, (endpoint, resource_id) in enumerate(zip(self.endpoints, self.resource_ids, strict=True))
        ]

    def target_of(self, tenant: Tenant) -> ShardTarget:
        """Shard k's tenants go to target k; one target (No Proxy side) serves every tenant."""
        targets = self.targets
        return targets[0] if len(targets) == 1 else targets[tenant.shard]


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
