"""The access function of one side: one code base, deployed behind the proxy or directly to Aurora."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from constructs_lib.function_contract import AccessConfig, ConnectionPolicy
from constructs_lib.function_package import FunctionPackage
from constructs_lib.network import Network
from constructs_lib.platform import AwsStack
from constructs_lib.tenancy import db_user_arn_prefix
from constructs_lib.vpc_function import VpcFunction, VpcFunctionProps


@dataclass(frozen=True)
class AccessTarget:
    """A reader endpoint the function connects to, and the id ``rds-db:connect`` ARNs name there."""

    endpoint: str
    resource_id: str


@dataclass(frozen=True)
class AccessFunctionProps:
    name: str
    network: Network
    package: FunctionPackage
    targets: Sequence[AccessTarget]  # by shard; one for the No Proxy side
    tenant_role_arn: str  # may hold "{shard}"
    ca_file: str
    tenant_count: int
    timeout_seconds: int
    memory_mb: int
    reserved_concurrency: int
    connections: ConnectionPolicy


class AccessFunction(Construct):
    def __init__(self, scope: Construct, id: str, props: AccessFunctionProps) -> None:
        super().__init__(scope, id)
        stack = AwsStack.of(self)
        self.config = AccessConfig(
            endpoints=[t.endpoint for t in props.targets],
            resource_ids=[t.resource_id for t in props.targets],
            tenant_role_arn=props.tenant_role_arn,
            db_user_arn_prefix=db_user_arn_prefix(
                partition=stack.partition, region=stack.region, account=stack.account_id
            ),
            tenant_count=props.tenant_count,
            connections=props.connections,
            ca_file=props.ca_file,
        )
        self.function = VpcFunction(
            self,
            "function",
            VpcFunctionProps(
                name=props.name,
                description="Five random rows of the tenant a request names, with that tenant's credentials only",
                network=props.network,
                package=props.package,
                handler="access_handler.handler",
                timeout_seconds=props.timeout_seconds,
                memory_mb=props.memory_mb,
                reserved_concurrency=props.reserved_concurrency,
                environment=self.config.to_environment(),
            ),
        )
