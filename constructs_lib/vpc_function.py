"""A Python function in a VPC's private subnets: its own security group, role, log group, X-Ray.

Destroying a VPC function is slow on AWS: Lambda releases the function's network interfaces up to
~45 minutes after the function is gone, and until then they hold its security group and subnets.
The function hands its interfaces to the VPC's default security group before it is deleted
(``replace_security_groups_on_destroy``), so its own group goes at once; the subnets wait (their
delete timeout is raised in ``network.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs import Construct

from constructs_lib.aws import (
    CloudwatchLogGroup,
    IamRolePolicy,
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
    VpcSecurityGroupEgressRule,
)
from constructs_lib.function_contract import lambda_environment
from constructs_lib.function_package import ARCHITECTURE, FunctionPackage
from constructs_lib.iam import service_role
from constructs_lib.network import HTTPS_PORT, Network
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement

# Every VPC function's own inline policies; grants (grant_*) add to these.
BASE_POLICIES = ("vpc-network-interfaces", "write-own-logs", "write-traces")


@dataclass(frozen=True)
class VpcFunctionProps:
    name: str
    description: str
    network: Network
    package: FunctionPackage
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    log_retention_days: int = 30


class VpcFunction(Construct):
    def __init__(self, scope: Construct, id: str, props: VpcFunctionProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.security_group = props.network.security_group(
            self, "sg", props.name, f"{props.name}: egress to its database and the VPC endpoints only"
        )
        # AWS APIs (STS, Secrets Manager) are reached through the VPC's interface endpoints.
        VpcSecurityGroupEgressRule(
            self,
            "https_to_endpoints",
            security_group_id=self.security_group.id,
            description="HTTPS to the VPC interface endpoints",
            ip_protocol="tcp",
            from_port=HTTPS_PORT,
            to_port=HTTPS_PORT,
            cidr_ipv4=props.network.cidr_block,
        )
        self.log_group = CloudwatchLogGroup(
            self, "logs", name=f"/aws/lambda/{props.name}", retention_in_days=props.log_retention_days
        )
        self.role = service_role(
            self,
            "role",
            name=props.name,
            service="lambda",
            policies={  # BASE_POLICIES
                # What Lambda needs to place the function in the VPC (the actions of AWS's
                # AWSLambdaVPCAccessExecutionRole, aws_rules.LAMBDA_VPC). Lambda calls them with the
                # function's role for ENIs it names only when it creates them, so they cannot be
                # scoped to resources in advance.
                "vpc-network-interfaces": [
                    Statement(
                        sid="ManageTheFunctionsNetworkInterfaces",
                        actions=[
                            "ec2:CreateNetworkInterface",
                            "ec2:DescribeNetworkInterfaces",
                            "ec2:DescribeSubnets",
                            "ec2:DeleteNetworkInterface",
                            "ec2:AssignPrivateIpAddresses",
                            "ec2:UnassignPrivateIpAddresses",
                        ],
                        resources="*",
                    )
                ],
                # Logs go to the function's own group only (the managed policy allows any group).
                "write-own-logs": [
                    Statement(
                        sid="WriteItsOwnLogGroup",
                        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                        resources=f"{self.log_group.arn}:*",
                    )
                ],
                # X-Ray has no resource-level permissions: segments go to the account's X-Ray.
                "write-traces": [
                    Statement(
                        sid="SendTraceSegments",
                        actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                        resources="*",
                    )
                ],
            },
        )
        self.function = LambdaFunction(
            self,
            "function",
            function_name=props.name,
            description=props.description,
            role=self.role.arn,
            runtime=props.package.runtime,
            architectures=[ARCHITECTURE],
            handler=props.handler,
            filename=props.package.code.path,
            source_code_hash=props.package.code_hash,
            layers=[props.package.layer.arn],
            timeout=props.timeout_seconds,
            memory_size=props.memory_mb,
            reserved_concurrent_executions=props.reserved_concurrency,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            vpc_config=LambdaFunctionVpcConfig(
                subnet_ids=props.network.private_subnet_ids, security_group_ids=[self.security_group.id]
            ),
            environment=LambdaFunctionEnvironment(variables=lambda_environment(props.name, props.environment)),
            replace_security_groups_on_destroy=AwsStack.of(self).capabilities.function_interface_handover or None,
            depends_on=[self.log_group],
        )
        self.role.used_by(self.function)

    def add_policy(self, name: str, *statements: Statement) -> IamRolePolicy:
        """Grant the function's role what ``statements`` allow (it is a ``Grantee``: grants call this)."""
        return self.role.add_policy(self, f"policy_{name}", name, *statements)
