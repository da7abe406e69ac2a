"""One VPC of the architecture: two public and two private subnets over two AZs, one NAT."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from constructs_lib.aws import (
    CloudwatchLogGroup,
    DefaultSecurityGroup,
    Eip,
    FlowLog,
    InternetGateway,
    NatGateway,
    Route,
    RouteTable,
    RouteTableAssociation,
    SecurityGroup,
    Subnet,
    SubnetTimeouts,
    Vpc,
    VpcEndpoint,
    VpcEndpointPolicy,
    VpcSecurityGroupEgressRule,
    VpcSecurityGroupIngressRule,
)
from constructs_lib.iam import service_role
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement, document

HTTPS_PORT = 443
# Lambda releases a VPC function's network interfaces up to ~45 minutes after the function is deleted,
# and a subnet cannot go before its interfaces do (terraform-provider-aws, aws_lambda_function notes).
SUBNET_DELETE_TIMEOUT = "45m"
ZONES = 2  # one public and one private subnet in each
# A VPC block is /16 to /28 (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html);
# the four /24 subnets need at least a /22.
LARGEST_VPC_PREFIX, SMALLEST_VPC_PREFIX = 16, 22


@dataclass(frozen=True)
class NetworkProps:
    name: str
    cidr_block: str
    availability_zones: Sequence[str]
    flow_logs: bool
    flow_log_retention_days: int = 30

    def __post_init__(self) -> None:
        if len(self.availability_zones) != ZONES or len(set(self.availability_zones)) != ZONES:
            raise ValueError(f"{self.name}: a network spans exactly {ZONES} distinct availability zones")
        try:
            block = ipaddress.IPv4Network(self.cidr_block)
        except ValueError as error:
            raise ValueError(f"{self.name}: cidr_block {self.cidr_block!r} is not an IPv4 network ({error})") from None
        if not LARGEST_VPC_PREFIX <= block.prefixlen <= SMALLEST_VPC_PREFIX:
            raise ValueError(
                f"{self.name}: cidr_block {self.cidr_block} must be /{LARGEST_VPC_PREFIX} to /{SMALLEST_VPC_PREFIX} "
                "(four /24 subnets in a VPC block AWS accepts)"
            )


class Network(Construct):
    """Public subnets x.x.0.0/24 and x.x.1.0/24, private x.x.2.0/24 and x.x.3.0/24, one per AZ."""

    def __init__(self, scope: Construct, id: str, props: NetworkProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.cidr_block = props.cidr_block
        self.vpc = Vpc(
            self,
            "vpc",
            cidr_block=props.cidr_block,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": props.name},
        )
        # The default security group allows all traffic between its members; strip its rules.
        DefaultSecurityGroup(self, "default_sg", vpc_id=self.vpc.id, tags={"Name": f"{props.name}-default-unused"})
        blocks = list(ipaddress.ip_network(props.cidr_block).subnets(new_prefix=24))
        igw = InternetGateway(self, "igw", vpc_id=self.vpc.id, tags={"Name": props.name})
        self.public_subnets = [
            self._subnet(f"public_{i}", str(blocks[i]), zone, public=True)
            for i, zone in enumerate(props.availability_zones)
        ]
        self.private_subnets = [
            self._subnet(f"private_{i}", str(blocks[2 + i]), zone, public=False)
            for i, zone in enumerate(props.availability_zones)
        ]
        self.nat_ip = nat_ip = Eip(self, "nat_eip", domain="vpc", tags={"Name": f"{props.name}-nat"}, depends_on=[igw])
        nat = NatGateway(
            self,
            "nat",
            allocation_id=nat_ip.id,
            subnet_id=self.public_subnets[0].id,
            tags={"Name": props.name},
            depends_on=[igw],
        )
        self._route_table("public", self.public_subnets, gateway_id=igw.id)
        self._route_table("private", self.private_subnets, nat_gateway_id=nat.id)
        self._endpoint_sg: SecurityGroup | None = None
        self.interface_endpoints: list[VpcEndpoint] = []
        self._endpoints: dict[str, VpcEndpoint] = {}
        self._endpoint_policies: dict[str, tuple[VpcEndpointPolicy, list[Statement]]] = {}
        if props.flow_logs:
            self._flow_logs()

    @property
    def nat_public_ip(self) -> str:
        """The address this VPC's private subnets reach the internet (and public AWS endpoints) from."""
        return self.nat_ip.public_ip

    @property
    def private_subnet_ids(self) -> list[str]:
        return [subnet.id for subnet in self.private_subnets]

    def _subnet(self, id: str, cidr: str, zone: str, *, public: bool) -> Subnet:
        kind = "public" if public else "private"
        return Subnet(
            self,
            id,
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"Name": f"{self.props.name}-{kind}-{cidr}", "tier": kind},
            timeouts=None if public else SubnetTimeouts(delete=SUBNET_DELETE_TIMEOUT),
        )

    def _route_table(self, kind: str, subnets: list[Subnet], **default_route: str) -> None:
        table = RouteTable(self, f"{kind}_rt", vpc_id=self.vpc.id, tags={"Name": f"{self.props.name}-{kind}"})
        Route(
            self, f"{kind}_default_route", route_table_id=table.id, destination_cidr_block="0.0.0.0/0", **default_route
        )
        for i, subnet in enumerate(subnets):
            RouteTableAssociation(self, f"{kind}_rt_{i}", route_table_id=table.id, subnet_id=subnet.id)

    def _flow_logs(self) -> None:
        stack = AwsStack.of(self)
        log_group = CloudwatchLogGroup(
            self,
            "flow_log_group",
            name=f"/vpc/{self.props.name}/flow-logs",
            retention_in_days=self.props.flow_log_retention_days,
        )
        role = service_role(
            self,
            "flow_log_role",
            name=f"{self.props.name}-flow-logs",
            service="vpc-flow-logs",
            source_arn=stack.arn("ec2", "vpc-flow-log/*"),
            policies={
                "write-flow-logs": [
                    Statement(
                        actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        resources=[log_group.arn, f"{log_group.arn}:*"],
                    )
                ]
            },
        )
        flow_log = FlowLog(
            self,
            "flow_log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags={"Name": self.props.name},
        )
        role.used_by(flow_log)

    def security_group(self, scope: Construct, id: str, name: str, description: str) -> SecurityGroup:
        """A security group of ``scope`` in this VPC with no rules; callers open exactly what they need."""
        return SecurityGroup(
            scope,
            id,
            name=name,
            description=description,
            vpc_id=self.vpc.id,
            revoke_rules_on_delete=True,
            tags={"Name": name},
        )

    def add_interface_endpoint(self, service: str) -> VpcEndpoint:
        """A private-DNS interface endpoint for ``service`` (e.g. "sts") in the private subnets."""
        stack = AwsStack.of(self)
        if self._endpoint_sg is None:
            self._endpoint_sg = self.security_group(
                self,
                "endpoint_sg",
                f"{self.props.name}-endpoints",
                "HTTPS from inside the VPC to its interface endpoints",
            )
            VpcSecurityGroupIngressRule(
                self,
                "endpoint_https_in",
                security_group_id=self._endpoint_sg.id,
                description="HTTPS from the VPC",
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                cidr_ipv4=self.cidr_block,
            )
        endpoint = VpcEndpoint(
            self,
            f"endpoint_{service.replace('-', '_')}",
            vpc_id=self.vpc.id,
            service_name=f"{stack.reverse_dns_prefix}.{stack.region}.{service}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=self.private_subnet_ids,
            security_group_ids=[self._endpoint_sg.id],
            tags={"Name": f"{self.props.name}-{service}"},
        )
        self.interface_endpoints.append(endpoint)
        self._endpoints[service] = endpoint
        return endpoint

    def allow_through_endpoint(
        self,
        service: str,
        *,
        sid: str,
        actions: Sequence[str],
        resources: Sequence[str],
        principals: Sequence[str] = (),
    ) -> VpcEndpointPolicy:
        """Let this account's principals (``principals``' roles, if given) do ``actions`` on ``resources``
        through ``service``'s endpoint, and nothing else.

        Without a policy an interface endpoint passes any request, of any account, to any resource;
        the first grant replaces that with this endpoint's own policy, later ones add to it.
        """
        condition: dict[str, dict[str, object]] = {
            "StringEquals": {"aws:PrincipalAccount": AwsStack.of(self).account_id}
        }
        if principals:
            condition["ArnEquals"] = {"aws:PrincipalArn": list(principals)}
        statement = Statement(
            sid=sid, principal="*", actions=list(actions), resources=list(resources), conditions=condition
        )
        if service not in self._endpoint_policies:
            policy = VpcEndpointPolicy(
                self,
                f"endpoint_{service.replace('-', '_')}_policy",
                vpc_endpoint_id=self._endpoints[service].id,
                policy=document(statement),
            )
            self._endpoint_policies[service] = (policy, [statement])
            return policy
        policy, statements = self._endpoint_policies[service]
        statements.append(statement)
        policy.policy = document(*statements)
        return policy

    @property
    def endpoint_policies(self) -> list[VpcEndpointPolicy]:
        return [policy for policy, _ in self._endpoint_policies.values()]


def allow_tcp(
    scope: Construct,
    id: str,
    *,
    source: SecurityGroup,
    target: SecurityGroup,
    port: int,
    description: str,
) -> None:
    """Open ``port`` from ``source`` to ``target``: ingress on the target, egress on the source."""
    VpcSecurityGroupIngressRule(
        scope,
        f"{id}_in",
        security_group_id=target.id,
        referenced_security_group_id=source.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
    )
    VpcSecurityGroupEgressRule(
        scope,
        f"{id}_out",
        security_group_id=source.id,
        referenced_security_group_id=target.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
    )
