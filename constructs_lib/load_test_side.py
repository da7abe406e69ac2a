"""The Load Test side: its VPC, the access API with one stage per database side, and the Locust fleet.

Locust runs in this VPC and calls the API (through the VPC's execute-api endpoint when the API is
PRIVATE, from the VPC's NAT address when it is REGIONAL); each stage routes to one side's function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from constructs_lib.access_api import AccessApi, AccessApiProps, EndpointType
from constructs_lib.database_side import DatabaseSide
from constructs_lib.load_test import LoadTest, LoadTestProps, LocustFleet
from constructs_lib.network import Network, NetworkProps
from constructs_lib.platform import tag_side
from constructs_lib.tenancy import side_name

SIDE = "load_test"


@dataclass(frozen=True)
class ApiSpec:
    endpoint_type: EndpointType
    throttling_rate_limit: int
    throttling_burst_limit: int


@dataclass(frozen=True)
class LoadTestSideProps:
    name_prefix: str
    cidr_block: str
    availability_zones: Sequence[str]
    flow_logs: bool
    targets: Sequence[DatabaseSide]  # each gets its API stage
    tenant_count: int
    api: ApiSpec
    fleet: LocustFleet

    def __post_init__(self) -> None:
        if len({target.side for target in self.targets}) != len(self.targets) or not self.targets:
            raise ValueError("the load test calls one or more database sides, each once")


class LoadTestSide(Construct):
    def __init__(self, scope: Construct, props: LoadTestSideProps) -> None:
        super().__init__(scope, SIDE)
        tag_side(self, SIDE)
        self.network = Network(
            self,
            "network",
            NetworkProps(
                name=side_name(props.name_prefix, SIDE),
                cidr_block=props.cidr_block,
                availability_zones=props.availability_zones,
                flow_logs=props.flow_logs,
            ),
        )
        self.api = AccessApi(
            self,
            "api",
            AccessApiProps(
                name=f"{props.name_prefix}-access",
                endpoint_type=props.api.endpoint_type,
                client_network=self.network,
                stages={target.api_stage: target.function.function for target in props.targets},
                throttling_rate_limit=props.api.throttling_rate_limit,
                throttling_burst_limit=props.api.throttling_burst_limit,
            ),
        )
        self.locust = LoadTest(
            self,
            "locust",
            LoadTestProps(
                name=f"{props.name_prefix}-locust",
                network=self.network,
                api_url=self.api.base_url,
                tenant_count=props.tenant_count,
                fleet=props.fleet,
            ),
        )
