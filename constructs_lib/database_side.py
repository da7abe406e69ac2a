"""A database side of the architecture: its VPC, an Aurora cluster, the seeding and the access function.

The Proxy side and the No Proxy side differ only in how the access function reaches the database
(``proxy_side.py``, ``no_proxy_side.py``); what they share is built here, in this order: the network
with its Secrets Manager and STS endpoints, the cluster, what the side puts in front of it, the
seeding, the access function, and one tenant-access role per shard that the function may assume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from constructs import Construct

from constructs_lib.access_function import AccessFunction, AccessFunctionProps, AccessTarget
from constructs_lib.aurora_cluster import AuroraCluster, AuroraClusterProps
from constructs_lib.function_contract import ConnectionPolicy
from constructs_lib.function_package import FunctionPackage
from constructs_lib.monitoring import SideMetrics
from constructs_lib.network import Network, NetworkProps
from constructs_lib.platform import AwsStack, tag_side
from constructs_lib.tenancy import (
    SHARD_PLACEHOLDER,
    Tenant,
    access_function_name,
    shard_count,
    side_name,
    tenant_access_role_name,
)
from constructs_lib.tenant_iam import TenantAccessRole, TenantAccessRoleProps
from constructs_lib.tenant_proxy import TenantProxy
from constructs_lib.tenant_seeding import TenantSeeding, TenantSeedingProps
from constructs_lib.vpc_function import VpcFunction

DatabaseSideName = Literal["proxy", "no_proxy"]
PRIVATE_SERVICE_ENDPOINTS = ("secretsmanager", "sts")


@dataclass(frozen=True)
class ClusterSpec:
    engine_version: str
    writer_instance_class: str
    reader_instance_class: str
    performance_insights_retention_days: int


@dataclass(frozen=True)
class AccessSpec:
    timeout_seconds: int
    memory_mb: int
    reserved_concurrency: int
    connections: ConnectionPolicy
    package: FunctionPackage | None = None  # the access function's code when it is not the side's (Python) package

    def __post_init__(self) -> None:
        if not 1 <= self.timeout_seconds < 29:
            raise ValueError("the access function must answer within API Gateway's 29 s")
        if self.reserved_concurrency == 0 or self.reserved_concurrency < -1:
            raise ValueError("reserved concurrency is -1 (unreserved) or positive")


@dataclass(frozen=True)
class DatabaseSideProps:
    name_prefix: str
    cidr_block: str
    availability_zones: Sequence[str]
    flow_logs: bool
    tenants: Sequence[Tenant]
    package: FunctionPackage
    cluster: ClusterSpec
    access: AccessSpec
    sample_data: bool = True  # 1,000 rows per tenant; false: tenants with empty tables

    def __post_init__(self) -> None:
        if not self.tenants or [t.id for t in self.tenants] != list(range(len(self.tenants))):
            raise ValueError("a side serves tenants 0..N-1")


class DatabaseSide(Construct):
    """One database side; subclasses say what stands between the access function and the cluster."""

    side: ClassVar[DatabaseSideName]
    iam_database_authentication: ClassVar[bool]
    ca_file: ClassVar[str]  # the trust store the access function verifies its endpoints against

    def __init__(self, scope: Construct, props: DatabaseSideProps) -> None:
        super().__init__(scope, self.side)
        tag_side(self, self.side)
        self.props = props
        self.stack = AwsStack.of(self)
        self.name = side_name(props.name_prefix, self.side)
        self.network = Network(
            self,
            "network",
            NetworkProps(
                name=self.name,
                cidr_block=props.cidr_block,
                availability_zones=props.availability_zones,
                flow_logs=props.flow_logs,
            ),
        )
        for service in PRIVATE_SERVICE_ENDPOINTS:
            self.network.add_interface_endpoint(service)
        self.cluster = AuroraCluster(
            self,
            "aurora",
            AuroraClusterProps(
                name=self.name,
                network=self.network,
                engine_version=props.cluster.engine_version,
                writer_instance_class=props.cluster.writer_instance_class,
                reader_instance_class=props.cluster.reader_instance_class,
                performance_insights_retention_days=props.cluster.performance_insights_retention_days,
                iam_database_authentication=self.iam_database_authentication,
            ),
        )
        self.network.allow_through_endpoint(
            "secretsmanager",
            sid="ReadTheMasterSecret",
            actions=["secretsmanager:GetSecretValue"],
            resources=[self.cluster.master_secret_arn],
        )
        self.proxies = self._front_the_cluster()
        self.seeding = TenantSeeding(
            self,
            "seeding",
            TenantSeedingProps(
                name=f"{self.name}-seeding",
                name_prefix=props.name_prefix,
                network=self.network,
                cluster=self.cluster,
                package=props.package,
                tenants=props.tenants,
                proxies=self.proxies,
                sample_rows=props.sample_data,
            ),
        )
        self.access = AccessFunction(
            self,
            "access",
            AccessFunctionProps(
                name=access_function_name(props.name_prefix, self.side),
                network=self.network,
                package=props.access.package or props.package,
                targets=self._access_targets(),
                tenant_role_arn=self._tenant_role_arn(SHARD_PLACEHOLDER),
                ca_file=self.ca_file,
                tenant_count=len(props.tenants),
                timeout_seconds=props.access.timeout_seconds,
                memory_mb=props.access.memory_mb,
                reserved_concurrency=props.access.reserved_concurrency,
                connections=props.access.connections,
            ),
        )
        self.tenant_access_roles = [self._tenant_access_role(shard) for shard in range(shard_count(len(props.tenants)))]
        self._let_the_access_function_in()
        # Only this side's tenant-access roles, assumed by its access function, pass the STS endpoint.
        self.network.allow_through_endpoint(
            "sts",
            sid="AssumeThisSidesTenantAccessRoles",
            actions=["sts:AssumeRole", "sts:TagSession"],
            resources=[self._tenant_role_arn("*")],
            principals=[self.access.function.role.arn],
        )

    @property
    def function(self) -> VpcFunction:
        """The access function: what this side's API stage routes to."""
        return self.access.function

    @property
    def api_stage(self) -> str:
        """The API stage that routes to this side (loadtest/locustfile.py calls it by this name)."""
        return f"{self.side}_stage"

    def metrics(self) -> SideMetrics:
        """The names this side's metrics are published under, for the comparison dashboard."""
        return SideMetrics(
            label=self.side.replace("_", " "),
            api_stage=self.api_stage,
            function_name=self.function.function.function_name,
            cluster_id=self.cluster.cluster.cluster_identifier,
            reader_instance_ids=[reader.identifier for reader in self.cluster.readers],
            proxy_names=[proxy.proxy.name for proxy in self.proxies],
        )

    def _tenant_role_arn(self, shard: int | str) -> str:
        name = tenant_access_role_name(self.props.name_prefix, self.side, shard)
        return self.stack.arn("iam", f"role/{name}", regional=False)

    def _tenant_access_role(self, shard: int) -> TenantAccessRole:
        role = TenantAccessRole(
            *self._tenant_access_role_scope(shard),
            TenantAccessRoleProps(
                name=tenant_access_role_name(self.props.name_prefix, self.side, shard),
                caller_role_arn=self.access.function.role.arn,
                shard=shard,
            ),
        )
        self._grant_connect(role, shard)
        role.grant_assume(self.access.function)
        return role

    # ---- what the two sides do differently ----------------------------------------------------------

    def _front_the_cluster(self) -> list[TenantProxy]:
        """What stands between the access function and the cluster (the Proxy side's proxies)."""
        return []

    def _access_targets(self) -> list[AccessTarget]:
        raise NotImplementedError

    def _tenant_access_role_scope(self, shard: int) -> tuple[Construct, str]:
        raise NotImplementedError

    def _grant_connect(self, role: TenantAccessRole, shard: int) -> None:
        raise NotImplementedError

    def _let_the_access_function_in(self) -> None:
        raise NotImplementedError
