"""The one definition of tenant naming, shared by the synthesizer and the Lambda functions.

Everything that names a tenant's DB user, database, secret or IAM resource goes through here,
so the infrastructure and the code that runs in it can never disagree. Pure Python on purpose:
the Lambda bundle ships this file as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

# RDS Proxy quota: at most 200 Secrets Manager secrets (auth entries) per proxy.
MAX_TENANTS_PER_PROXY = 200
# Every tenant database holds one table of rows with IDs 1..ROWS_PER_TENANT and columns A..E.
TENANT_TABLE = "tenant_data"
ROWS_PER_TENANT = 1000
VALUE_COLUMNS = ("A", "B", "C", "D", "E")
# The session tag naming the tenant when the access function assumes a tenant-access role.
TENANT_TAG = "tenant"
DB_USER_PREFIX = "user"
DATABASE_PREFIX = "user_database"
MYSQL_PORT = 3306
# A tenant session is assumed with the access function's own role credentials (role chaining), which
# AWS caps at one hour; tenant-access roles allow exactly that.
SESSION_SECONDS = 3600
# Stands for a shard's number in names the access function completes per tenant (Lambda's 4 KB
# environment cannot list one role ARN per shard).
SHARD_PLACEHOLDER = "{shard}"


@dataclass(frozen=True, order=True)
class Tenant:
    """A tenant: a MySQL user with its own database, reachable through its proxy shard."""

    id: int

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or isinstance(self.id, bool) or self.id < 0:
            raise ValueError(f"tenant id must be a non-negative integer, got {self.id!r}")

    @property
    def db_user(self) -> str:
        return f"{DB_USER_PREFIX}{self.id}"

    @property
    def database(self) -> str:
        return f"{DATABASE_PREFIX}{self.id}"

    @property
    def shard(self) -> int:
        """Index of the proxy serving this tenant; adding tenants never moves an existing one."""
        return self.id // MAX_TENANTS_PER_PROXY

    def secret_name(self, name_prefix: str) -> str:
        """Name of the Secrets Manager secret holding this tenant's proxy credentials."""
        return f"{tenant_secret_prefix(name_prefix)}{self.id}"


def tenant_secret_prefix(name_prefix: str) -> str:
    """Common name prefix of all tenant secrets of one deployment (for IAM resource patterns)."""
    return f"{name_prefix}/tenants/"


def side_name(name_prefix: str, side: str) -> str:
    """Name of one side of the architecture ("proxy", "no_proxy", "load_test"): its VPC, cluster, functions."""
    return f"{name_prefix}-{side.replace('_', '')}"


def proxy_name(name_prefix: str, shard: int | str) -> str:
    """The RDS Proxy of a shard; ``shard="*"`` gives the IAM pattern over every shard's proxy."""
    return f"{side_name(name_prefix, 'proxy')}-{shard}"


def proxy_reader_endpoint_name(name_prefix: str, shard: int) -> str:
    return f"{proxy_name(name_prefix, shard)}-reader"


def tenant_access_role_name(name_prefix: str, side: str, shard: int | str | None = None) -> str:
    """The role a side's access function assumes per tenant: one per proxy shard, or one per cluster.

    ``shard`` may be ``SHARD_PLACEHOLDER``, which the function fills in per tenant.
    """
    stem = side_name(name_prefix, side) if shard is None else f"{side_name(name_prefix, side)}-{shard}"
    return f"{stem}-tenant-access"


def access_function_name(name_prefix: str, side: str) -> str:
    return f"{side_name(name_prefix, side)}-access"


def shard_count(tenant_count: int) -> int:
    return -(-tenant_count // MAX_TENANTS_PER_PROXY)


def all_tenants(count: int) -> list[Tenant]:
    return [Tenant(i) for i in range(count)]


def shards(tenants: list[Tenant]) -> list[list[Tenant]]:
    """Tenants grouped by proxy shard, in shard order."""
    grouped: dict[int, list[Tenant]] = {}
    for tenant in tenants:
        grouped.setdefault(tenant.shard, []).append(tenant)
    return [grouped[index] for index in sorted(grouped)]


def shard_tenant_ids(shard: int) -> list[str]:
    """The tag values of exactly one shard's tenants: every id the shard can ever hold, as canonical decimals.

    A tenant-access role admits these values and no others: IAM patterns (``StringLike``) would also
    admit "01", "2 " or Unicode digits, and MySQL compares user names ignoring trailing spaces, so
    "user20 " would be user20 of another shard. Listing the whole shard (not only today's tenants)
    keeps the role unchanged when tenants are added.
    """
    return [str(i) for i in range(shard * MAX_TENANTS_PER_PROXY, (shard + 1) * MAX_TENANTS_PER_PROXY)]


def db_user_arn_prefix(*, partition: str, region: str, account: str) -> str:
    return f"arn:{partition}:rds-db:{region}:{account}:dbuser:"


def db_user_arn(prefix: str, resource_id: str, db_user: str) -> str:
    """What ``rds-db:connect`` names: a DB user on a proxy (``prx-...``) or a cluster (``cluster-...``)."""
    return f"{prefix}{resource_id}/{db_user}"
