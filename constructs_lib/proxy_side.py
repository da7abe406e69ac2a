"""The Proxy side: one RDS Proxy per shard of 200 tenants in front of the cluster.

The access function reaches each shard's proxy READ_ONLY endpoint with an IAM token (the proxy's TLS
certificate chains to Amazon's root CAs); the proxy logs in to Aurora with the tenant's own password
from Secrets Manager, which the seeding function writes.
"""

from __future__ import annotations

from constructs import Construct

from constructs_lib.access_function import AccessTarget
from constructs_lib.database_side import DatabaseSide, DatabaseSideProps
from constructs_lib.function_contract import AMAZON_ROOT_CA_FILE
from constructs_lib.tenancy import shards, tenant_secret_prefix
from constructs_lib.tenant_iam import TenantAccessRole
from constructs_lib.tenant_proxy import ConnectionPool, TenantProxy, TenantProxyProps


class ProxySide(DatabaseSide):
    side = "proxy"
    iam_database_authentication = False  # the proxy logs in with the tenants' passwords
    ca_file = AMAZON_ROOT_CA_FILE

    def __init__(self, scope: Construct, props: DatabaseSideProps, pool: ConnectionPool) -> None:
        self.pool = pool  # read while the side is built, by _front_the_cluster
        super().__init__(scope, props)

    def _front_the_cluster(self) -> list[TenantProxy]:
        proxies = [
            TenantProxy(
                self,
                f"rds_proxy_{index}",
                TenantProxyProps(
                    name_prefix=self.props.name_prefix,
                    network=self.network,
                    cluster=self.cluster,
                    tenants=shard,
                    pool=self.pool,
                ),
            )
            for index, shard in enumerate(shards(list(self.props.tenants)))
        ]
        # The seeding function writes the tenant passwords, the proxies read them: both via the endpoint.
        self.network.allow_through_endpoint(
            "secretsmanager",
            sid="FillAndReadTenantSecrets",
            actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            resources=[self.stack.arn("secretsmanager", f"secret:{tenant_secret_prefix(self.props.name_prefix)}*")],
        )
        return proxies

    def _access_targets(self) -> list[AccessTarget]:
        return [AccessTarget(proxy.read_endpoint, proxy.resource_id) for proxy in self.proxies]

    def _tenant_access_role_scope(self, shard: int) -> tuple[Construct, str]:
        return self.proxies[shard], "tenant_access"

    def _grant_connect(self, role: TenantAccessRole, shard: int) -> None:
        self.proxies[shard].grant_connect(role)

    def _let_the_access_function_in(self) -> None:
        for proxy in self.proxies:
            proxy.allow_mysql_from("access", self.function.security_group, "access function to the proxy")
