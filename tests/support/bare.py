"""Key constructs on a bare stack, synthesized in this process with cdktf's ``Testing``.

A bare stack holds only what the construct under test needs (a network, a cluster, a caller role),
so a test reads one construct's resources in about a second instead of synthesizing the whole app,
and can try shapes the app's settings never produce (another shard, the other API endpoint type).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.paths import QUIET_TOOLS_ENV

os.environ.update(QUIET_TOOLS_ENV)  # before jsii starts its node process

from cdktf import Testing  # noqa: E402
from constructs import Construct  # noqa: E402

from constructs_lib.aurora_cluster import AuroraCluster, AuroraClusterProps  # noqa: E402
from constructs_lib.iam import service_role  # noqa: E402
from constructs_lib.network import Network, NetworkProps  # noqa: E402
from constructs_lib.platform import AwsStack  # noqa: E402
from constructs_lib.policy import Statement  # noqa: E402
from tests.support.synth import Stack  # noqa: E402

NAME_PREFIX = "bare"
ZONES = ("eu-west-1a", "eu-west-1b")
ENGINE_VERSION = "8.0.mysql_aurora.3.10.5"


def bare_stack(*, emulated: bool = False) -> AwsStack:
    return AwsStack(
        Testing.app(),
        "bare",
        region="eu-west-1",
        environment="test",
        name_prefix=NAME_PREFIX,
        account_id="123456789012",
        emulator_endpoint="http://127.0.0.1:5000" if emulated else "",
    )


def synthesized(stack: AwsStack) -> Stack:
    return Stack(Path(stack.node.id), json.loads(Testing.synth(stack)))


def network(stack: AwsStack, id: str = "network", cidr_block: str = "10.0.0.0/16") -> Network:
    return Network(
        stack,
        id,
        NetworkProps(name=f"{NAME_PREFIX}-{id}", cidr_block=cidr_block, availability_zones=ZONES, flow_logs=False),
    )


def cluster(stack: AwsStack, vpc: Network, *, iam_database_authentication: bool = False) -> AuroraCluster:
    return AuroraCluster(
        stack,
        "aurora",
        AuroraClusterProps(
            name=f"{NAME_PREFIX}-aurora",
            network=vpc,
            engine_version=ENGINE_VERSION,
            writer_instance_class="db.r6g.large",
            reader_instance_class="db.r6g.large",
            performance_insights_retention_days=7,
            iam_database_authentication=iam_database_authentication,
        ),
    )


class CallerRole(Construct):
    """A grantee with a role of its own, as the access function is (``constructs_lib.iam.Grantee``)."""

    def __init__(self, scope: Construct, id: str, name: str) -> None:
        super().__init__(scope, id)
        self.role = service_role(self, "role", name=name, service="lambda", policies={})

    def add_policy(self, name: str, *statements: Statement):
        return self.role.add_policy(self, f"policy_{name}", name, *statements)
