"""The seeding function of one database side, and its invocations at apply time.

Terraform invokes it once per proxy shard (200 tenants at most) with the shard's tenant range. The
input changes only when that range does, so growing the tenant count re-runs only the shards that
gained tenants; a code change re-runs all of them (seeding is idempotent). Each invocation waits for
everything the function uses: the writer, its grants, the shard's tenant secrets, and the VPC
interface endpoints it reaches Secrets Manager through (its security group allows HTTPS inside the
VPC only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from constructs_lib.aurora_cluster import AuroraCluster
from constructs_lib.aws import LambdaInvocation
from constructs_lib.function_contract import RDS_CA_FILE
from constructs_lib.function_package import FunctionPackage
from constructs_lib.network import Network
from constructs_lib.tenancy import MYSQL_PORT, Tenant, shards
from constructs_lib.tenant_proxy import TenantProxy, grant_tenant_secrets_fill
from constructs_lib.vpc_function import VpcFunction, VpcFunctionProps

SEEDING_TIMEOUT_SECONDS = 900  # Lambda's maximum; a shard of 200 tenants takes far less


def seed_request(first: int, last: int, sample_rows: bool) -> dict[str, object]:
    """The seeding function's input for one shard. ``sample_rows`` is written only when false, so that the
    default input (and with it every deployed invocation) stays what it was before the option existed."""
    request: dict[str, object] = {"first_tenant": first, "last_tenant": last}
    if not sample_rows:
        request["sample_rows"] = False
    return request


@dataclass(frozen=True)
class TenantSeedingProps:
    name: str
    name_prefix: str
    network: Network
    cluster: AuroraCluster
    package: FunctionPackage
    tenants: Sequence[Tenant]
    # Proxy side: the proxies whose tenant secrets receive the passwords. None: IAM-authenticated users.
    proxies: Sequence[TenantProxy] = ()
    sample_rows: bool = True  # false: each tenant's table stays empty, for the operator's own data


class TenantSeeding(Construct):
    def __init__(self, scope: Construct, id: str, props: TenantSeedingProps) -> None:
        super().__init__(scope, id)
        cluster = props.cluster
        self.function = VpcFunction(
            self,
            "function",
            VpcFunctionProps(
                name=props.name,
                description="Creates tenants: user, own database, 1,000 rows, SELECT grant (idempotent)",
                network=props.network,
                package=props.package,
                handler="seed_handler.handler",
                timeout_seconds=SEEDING_TIMEOUT_SECONDS,
                memory_mb=512,
                environment={
                    "DB_HOST": cluster.cluster.endpoint,
                    "DB_PORT": str(MYSQL_PORT),
                    "MASTER_SECRET_ARN": cluster.master_secret_arn,
                    "TENANT_AUTH": "password" if props.proxies else "iam",
                    "NAME_PREFIX": props.name_prefix,
                    "CA_BUNDLE": RDS_CA_FILE,
                },
            ),
        )
        cluster.allow_mysql_from("seeding", self.function.security_group, "seeding function to the writer")
        grants = [cluster.grant_master_secret_read(self.function)]
        if props.proxies:
            grants.append(grant_tenant_secrets_fill(self.function, props.name_prefix))
        self.invocations = []
        for index, shard in enumerate(shards(list(props.tenants))):
            # Each shard waits for what it uses only, so adding a shard leaves the others untouched.
            shard_secrets = list(props.proxies[index].secrets.values()) if props.proxies else []
            self.invocations.append(
                LambdaInvocation(
                    self,
                    f"seed_shard_{index}",
                    function_name=self.function.function.function_name,
                    input=json.dumps(seed_request(shard[0].id, shard[-1].id, props.sample_rows)),
                    triggers={"code": props.package.code_hash},
                    depends_on=[
                        cluster.writer,
                        *grants,
                        *shard_secrets,
                        *props.network.interface_endpoints,
                        *props.network.endpoint_policies,
                    ],
                )
            )
