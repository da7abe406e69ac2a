"""What every stack shares: the AWS provider, tags, and the partition/account/region it runs in.

Nothing here hard-codes a partition, account or region: ARNs are built from data sources, so
the same synthesized stack works in aws, aws-cn and aws-us-gov.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from cdktf import Aspects, Fn, IAspect, Op, TerraformOutput, TerraformResource, TerraformStack
from constructs import Construct, IConstruct

from constructs_lib.aws import (
    AwsProvider,
    AwsProviderDefaultTags,
    AwsProviderEndpoints,
    DataAwsAvailabilityZones,
    DataAwsCallerIdentity,
    DataAwsPartition,
    DataAwsRegion,
)
from constructs_lib.emulator import EMULATOR_CREDENTIALS, Capabilities, provider_endpoints

PROJECT_TAG = "rds-proxy-multitenant"
REQUIRED_TERRAFORM = ">= 1.10.0"  # S3 backend lock files (use_lockfile) need 1.10


class AwsStack(TerraformStack):
    """A stack with one AWS provider whose default tags mark project and environment."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        region: str,
        environment: str,
        name_prefix: str,
        account_id: str = "",
        emulator_endpoint: str = "",
    ) -> None:
        super().__init__(scope, id)
        self.capabilities = Capabilities.of_target(emulator_endpoint)
        self.add_override("terraform.required_version", REQUIRED_TERRAFORM)
        emulator = (
            {
                "endpoints": [AwsProviderEndpoints(**provider_endpoints(emulator_endpoint))],
                "skip_credentials_validation": True,
                "skip_metadata_api_check": "true",
                # The emulator's stand-in credentials: a shell without AWS credentials deploys to it as is.
                "access_key": EMULATOR_CREDENTIALS[0],
                "secret_key": EMULATOR_CREDENTIALS[1],
                "s3_use_path_style": True,
                "max_retries": 2,  # unimplemented calls fail in seconds, not minutes
            }
            if emulator_endpoint
            else {}
        )
        AwsProvider(
            self,
            "aws",
            region=region,
            # Terraform refuses credentials of any other account before it changes anything.
            allowed_account_ids=[account_id] if account_id else None,
            **emulator,
            default_tags=[
                AwsProviderDefaultTags(
                    tags={"project": PROJECT_TAG, "environment": environment, "deployment": name_prefix}
                )
            ],
        )
        partition = DataAwsPartition(self, "partition")
        self.partition = partition.partition
        self.reverse_dns_prefix = partition.reverse_dns_prefix
        self.dns_suffix = partition.dns_suffix
        self.account_id = DataAwsCallerIdentity(self, "caller").account_id
        self.region = DataAwsRegion(self, "region").name
        if not account_id and not emulator_endpoint:
            self._refuse_to_plan_without_account_id()

    def _refuse_to_plan_without_account_id(self) -> None:
        """A stack synthesized without ``account_id`` is for review: planning it stops with this message."""
        guard = TerraformOutput(
            self, "deployment_account", value=self.account_id, description="The account this stack is planned against"
        )
        guard.override_logical_id("deployment_account")
        # cdktf 0.21 keeps an output's precondition but does not write it; the override does.
        guard.add_override(
            "precondition",
            [
                {
                    "condition": Op.lt(Fn.length_of(self.account_id), 1),  # never true: an account id has 12 digits
                    "error_message": "The account_id setting is empty: set it to the 12-digit AWS account to deploy "
                    "to (e.g. RDSPROXY_ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text)) and "
                    "synthesize again. It pins the providers to that account and names the state bucket.",
                }
            ],
        )

    def arn(self, service: str, resource: str, *, regional: bool = True, in_account: bool = True) -> str:
        """ARN of a resource in this stack's partition, region and account."""
        region = self.region if regional else ""
        account = self.account_id if in_account else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    def availability_zones(self, chosen: Sequence[str], count: int = 2) -> list[str]:
        """The zones to use: those chosen in settings, else the region's first ``count``."""
        if chosen:
            return list(chosen)
        names = DataAwsAvailabilityZones(self, "zones", state="available").names
        return [Fn.element(names, index) for index in range(count)]

    @staticmethod
    def of(scope: IConstruct) -> AwsStack:
        stack = TerraformStack.of(scope)
        if not isinstance(stack, AwsStack):
            raise TypeError(f"{scope.node.path} is not inside an AwsStack")
        return stack


@jsii.implements(IAspect)
class _SideTag:
    def __init__(self, side: str) -> None:
        self._side = side

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, TerraformResource) and hasattr(type(node), "tags_input"):
            node.tags = {**(node.tags_input or {}), "side": self._side}


def tag_side(scope: Construct, side: str) -> None:
    """Tag every taggable resource under ``scope`` with the architecture side it belongs to."""
    Aspects.of(scope).add(_SideTag(side))


def add_dependency(resource: TerraformResource, *dependencies: TerraformResource) -> None:
    """Make ``resource`` wait for ``dependencies`` (depends_on), keeping what it already waits for."""
    addresses = [f"{d.terraform_resource_type}.{d.friendly_unique_id}" for d in dependencies]
    resource.depends_on = [
        *(resource.depends_on or []),
        *(a for a in addresses if a not in (resource.depends_on or [])),
    ]


def add_outputs(scope: Construct, prefix: str, outputs: Mapping[str, tuple[object, str]]) -> None:
    """Stack outputs named ``<prefix>_<key>``, each with its description."""
    for key, (value, description) in outputs.items():
        TerraformOutput(scope, f"{prefix}_{key}", value=value, description=description).override_logical_id(
            f"{prefix}_{key}"
        )
