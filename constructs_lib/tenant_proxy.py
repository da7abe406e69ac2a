"""RDS Proxy in front of the Proxy-side cluster, with one IAM-authenticated entry per tenant.

Each tenant's entry points at that tenant's own Secrets Manager secret. The secrets are declared
here without a value: the seeding function fills them, so passwords never enter Terraform state.
The auth list lives in Terraform (no runtime ModifyDBProxy), so a re-plan shows no drift.

Secrets and keys carry the name of their proxy as a tag: a proxy's role reads its own shard's secrets
only, while ``grant_tenant_secrets_fill`` lets the seeding function fill every shard's with one grant
whose size does not grow with the shards (an IAM role's inline policies may total 10,240 characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdktf import Fn, TerraformLocal
from constructs import Construct

from constructs_lib.aurora_cluster import AuroraCluster
from constructs_lib.aws import (
    CloudwatchLogGroup,
    DbProxy,
    DbProxyAuth,
    DbProxyDefaultTargetGroup,
    DbProxyDefaultTargetGroupConnectionPoolConfig,
    DbProxyEndpoint,
    DbProxyTarget,
    KmsAlias,
    KmsKey,
    SecretsmanagerSecret,
    SecurityGroup,
)
from constructs_lib.iam import Grantee, service_role
from constructs_lib.network import Network, allow_tcp
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement
from constructs_lib.tenancy import (
    MAX_TENANTS_PER_PROXY,
    MYSQL_PORT,
    Tenant,
    proxy_name,
    proxy_reader_endpoint_name,
    tenant_secret_prefix,
)

if TYPE_CHECKING:
    from constructs_lib.aws import IamRolePolicy
    from constructs_lib.tenant_iam import TenantAccessRole

SECRET_TAG = "tenant-secret-of"
KEY_TAG = "tenant-secrets-key-of"
LOG_RETENTION_DAYS = 30


@dataclass(frozen=True)
class ConnectionPool:
    """How much of the cluster's connections a proxy may hold (its default target group's settings)."""

    max_connections_percent: int = 90
    max_idle_connections_percent: int = 50
    connection_borrow_timeout_seconds: int = 120

    def __post_init__(self) -> None:
        if not 0 <= self.max_idle_connections_percent <= self.max_connections_percent <= 100:
            raise ValueError("need 0 <= max_idle_connections_percent <= max_connections_percent <= 100")


@dataclass(frozen=True)
class TenantProxyProps:
    name_prefix: str
    network: Network
    cluster: AuroraCluster
    tenants: Sequence[Tenant]
    pool: ConnectionPool = ConnectionPool()
    idle_client_timeout_seconds: int = 1800

    def __post_init__(self) -> None:
        if not 1 <= len(self.tenants) <= MAX_TENANTS_PER_PROXY or len({t.shard for t in self.tenants}) != 1:
            raise ValueError(f"one RDS Proxy serves the 1..{MAX_TENANTS_PER_PROXY} tenants of one shard")


class TenantProxy(Construct):
    """One shard's proxy: its tenants' secrets, a role that reads only those, and a reader endpoint."""

    def __init__(self, scope: Construct, id: str, props: TenantProxyProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.shard = props.tenants[0].shard
        self.name = proxy_name(self.props.name_prefix, self.shard)
        self._resource_id: TerraformLocal | None = None
        stack = AwsStack.of(self)
        self.secrets_key = KmsKey(
            self,
            "secrets_key",
            description=f"{self.name}: encrypts the tenant secrets",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            tags={KEY_TAG: self.name},
        )
        KmsAlias(
            self, "secrets_key_alias", name=f"alias/{self.name}-tenant-secrets", target_key_id=self.secrets_key.key_id
        )
        self.secrets = {
            tenant: SecretsmanagerSecret(
                self,
                f"tenant_secret_{tenant.id}",
                name=tenant.secret_name(self.props.name_prefix),
                description=f"Proxy login of tenant {tenant.id} ({tenant.db_user}); the seeding function sets it",
                kms_key_id=self.secrets_key.arn,
                # Names are reused when a load-test deployment is destroyed and made again.
                recovery_window_in_days=0,
                tags={SECRET_TAG: self.name},
            )
            for tenant in props.tenants
        }
        self.secret_arn_pattern = stack.arn("secretsmanager", f"secret:{tenant_secret_prefix(self.props.name_prefix)}*")
        self.security_group = props.network.security_group(
            self, "proxy_sg", self.name, f"RDS Proxy of {self.name}: {MYSQL_PORT} from the access function only"
        )
        allow_tcp(
            self,
            "proxy_to_db",
            source=self.security_group,
            target=props.cluster.security_group,
            port=MYSQL_PORT,
            description="RDS Proxy to Aurora",
        )
        role = self._role(stack)
        # RDS Proxy writes to this group; declared first, it is made with a retention and goes on destroy.
        log_group = CloudwatchLogGroup(
            self, "logs", name=f"/aws/rds/proxy/{self.name}", retention_in_days=LOG_RETENTION_DAYS
        )
        self.proxy = DbProxy(
            self,
            "proxy",
            name=self.name,
            engine_family="MYSQL",
            require_tls=True,
            debug_logging=False,
            idle_client_timeout=props.idle_client_timeout_seconds,
            role_arn=role.arn,
            vpc_subnet_ids=props.network.private_subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            auth=[
                DbProxyAuth(
                    auth_scheme="SECRETS",
                    iam_auth="REQUIRED",
                    client_password_auth_type="MYSQL_NATIVE_PASSWORD",
                    secret_arn=secret.arn,
                    username=tenant.db_user,
                    description=f"tenant {tenant.id}",
                )
                for tenant, secret in self.secrets.items()
            ],
            depends_on=[log_group],
        )
        role.used_by(self.proxy)
        self.target_group = DbProxyDefaultTargetGroup(
            self,
            "target_group",
            db_proxy_name=self.proxy.name,
            connection_pool_config=DbProxyDefaultTargetGroupConnectionPoolConfig(
                connection_borrow_timeout=props.pool.connection_borrow_timeout_seconds,
                max_connections_percent=props.pool.max_connections_percent,
                max_idle_connections_percent=props.pool.max_idle_connections_percent,
            ),
        )
        # Provider 5.x retries RegisterDBProxyTargets for 5 minutes only, while the cluster's instances
        # take longer to create: register the cluster once all of them exist.
        target = DbProxyTarget(
            self,
            "target",
            db_proxy_name=self.proxy.name,
            target_group_name=self.target_group.name,
            db_cluster_identifier=props.cluster.cluster.cluster_identifier,
            depends_on=props.cluster.instances,
        )
        self.reader_endpoint = (
            DbProxyEndpoint(
                self,
                "reader",
                db_proxy_name=self.proxy.name,
                db_proxy_endpoint_name=proxy_reader_endpoint_name(props.name_prefix, self.shard),
                target_role="READ_ONLY",
                vpc_subnet_ids=props.network.private_subnet_ids,
                vpc_security_group_ids=[self.security_group.id],
                depends_on=[target, *props.cluster.readers],
            )
            if stack.capabilities.proxy_reader_endpoint
            else None
        )

    @property
    def read_endpoint(self) -> str:
        """Where readers connect: the READ_ONLY endpoint (the default endpoint only when emulated)."""
        return self.reader_endpoint.endpoint if self.reader_endpoint else self.proxy.endpoint

    def _role(self, stack: AwsStack):
        """The proxy may read the tenant secrets of this deployment and decrypt them via Secrets Manager only."""
        return service_role(
            self,
            "role",
            name=f"{self.name}-proxy",
            service="rds",
            policies={
                "read-tenant-secrets": [
                    Statement(
                        sid="ReadTenantSecrets",
                        actions="secretsmanager:GetSecretValue",
                        resources=self.secret_arn_pattern,
                        conditions={"StringEquals": {f"secretsmanager:ResourceTag/{SECRET_TAG}": self.name}},
                    ),
                    Statement(
                        sid="DecryptViaSecretsManager",
                        actions="kms:Decrypt",
                        resources=self.secrets_key.arn,
                        conditions={"StringEquals": via_secrets_manager(stack)},
                    ),
                ]
            },
        )

    def grant_connect(self, access_role: TenantAccessRole) -> None:
        """Let sessions of ``access_role`` connect through this proxy, each as its own tagged tenant."""
        access_role.grant_connect_as_tagged_tenant(self.resource_id)

    def allow_mysql_from(self, id: str, source: SecurityGroup, description: str) -> None:
        allow_tcp(self, id, source=source, target=self.security_group, port=MYSQL_PORT, description=description)

    @property
    def resource_id(self) -> str:
        """The ``prx-...`` id that ``rds-db:connect`` ARNs name (the last field of the proxy ARN).

        A named local keeps the expression (and its quotes) out of the JSON policies that use it.
        """
        if self._resource_id is None:
            self._resource_id = TerraformLocal(self, "resource_id", Fn.element(Fn.split(":", self.proxy.arn), 6))
        return self._resource_id.as_string


def via_secrets_manager(stack: AwsStack) -> dict[str, str]:
    """The condition that a KMS call is made by Secrets Manager on the caller's behalf, in this region."""
    return {"kms:ViaService": f"secretsmanager.{stack.region}.{stack.dns_suffix}"}


def grant_tenant_secrets_fill(grantee: Grantee, name_prefix: str) -> IamRolePolicy:
    """Let a function write (and read back) the passwords of every shard's tenants, and nothing else.

    One grant for all shards, the same size for 1 shard or 30: secrets and keys are chosen by the
    deployment's secret name prefix and by their proxy tag (this deployment's proxies only).
    """
    stack = AwsStack.of(grantee)
    proxies = proxy_name(name_prefix, "*")
    return grantee.add_policy(
        "fill-tenant-secrets",
        Statement(
            sid="FillTenantSecrets",
            actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            resources=stack.arn("secretsmanager", f"secret:{tenant_secret_prefix(name_prefix)}*"),
            conditions={"StringLike": {f"secretsmanager:ResourceTag/{SECRET_TAG}": proxies}},
        ),
        Statement(
            sid="EncryptViaSecretsManager",
            actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
            resources=stack.arn("kms", "key/*"),
            conditions={
                "StringEquals": via_secrets_manager(stack),
                "StringLike": {f"aws:ResourceTag/{KEY_TAG}": proxies},
            },
        ),
    )
