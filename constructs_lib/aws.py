"""The only module that imports the AWS provider bindings (hashicorp/aws 5.100.0).

Importing any ``cdktf_cdktf_provider_aws.X`` the usual way first runs the package ``__init__``,
which imports all ~2,100 resource modules (~10-20 s per process). We register the package as an
empty namespace first, so Python loads only the submodules named below. Switching to another
binding (for example CDK Terrain's) means editing this file alone.
"""

import importlib.util
import sys


def _register_package_without_init(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"{name} is not installed; run `pipenv install`")
    sys.modules[name] = importlib.util.module_from_spec(spec)


_register_package_without_init("cdktf_cdktf_provider_aws")

# isort: off
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_deployment import ApiGatewayDeployment  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_method_settings import (  # noqa: E402
    ApiGatewayMethodSettings,
    ApiGatewayMethodSettingsSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_request_validator import ApiGatewayRequestValidator  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_rest_api import (  # noqa: E402
    ApiGatewayRestApi,
    ApiGatewayRestApiEndpointConfiguration,
)
from cdktf_cdktf_provider_aws.api_gateway_rest_api_policy import ApiGatewayRestApiPolicy  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage, ApiGatewayStageAccessLogSettings  # noqa: E402
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_availability_zones import DataAwsAvailabilityZones  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion  # noqa: E402
from cdktf_cdktf_provider_aws.db_proxy import DbProxy, DbProxyAuth  # noqa: E402
from cdktf_cdktf_provider_aws.db_proxy_default_target_group import (  # noqa: E402
    DbProxyDefaultTargetGroup,
    DbProxyDefaultTargetGroupConnectionPoolConfig,
)
from cdktf_cdktf_provider_aws.db_proxy_endpoint import DbProxyEndpoint  # noqa: E402
from cdktf_cdktf_provider_aws.db_proxy_target import DbProxyTarget  # noqa: E402
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup  # noqa: E402
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup  # noqa: E402
from cdktf_cdktf_provider_aws.dynamodb_table import (  # noqa: E402
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from cdktf_cdktf_provider_aws.eip import Eip  # noqa: E402
from cdktf_cdktf_provider_aws.flow_log import FlowLog  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role import IamRole  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway  # noqa: E402
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias  # noqa: E402
from cdktf_cdktf_provider_aws.lambda_function import (  # noqa: E402
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from cdktf_cdktf_provider_aws.lambda_invocation import LambdaInvocation  # noqa: E402
from cdktf_cdktf_provider_aws.lambda_layer_version import LambdaLayerVersion  # noqa: E402
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission  # noqa: E402
from cdktf_cdktf_provider_aws.kms_key import KmsKey  # noqa: E402
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags  # noqa: E402
from cdktf_cdktf_provider_aws.rds_cluster import RdsCluster  # noqa: E402
from cdktf_cdktf_provider_aws.rds_cluster_instance import RdsClusterInstance  # noqa: E402
from cdktf_cdktf_provider_aws.rds_cluster_parameter_group import (  # noqa: E402
    RdsClusterParameterGroup,
    RdsClusterParameterGroupParameter,
)
from cdktf_cdktf_provider_aws.route import Route  # noqa: E402
from cdktf_cdktf_provider_aws.route_table import RouteTable  # noqa: E402
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (  # noqa: E402
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (  # noqa: E402
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (  # noqa: E402
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret  # noqa: E402
from cdktf_cdktf_provider_aws.security_group import SecurityGroup  # noqa: E402
from cdktf_cdktf_provider_aws.subnet import Subnet  # noqa: E402
from cdktf_cdktf_provider_aws.vpc import Vpc  # noqa: E402
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint  # noqa: E402
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule  # noqa: E402
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule  # noqa: E402
# isort: on

__all__ = [name for name in dir() if name[0].isupper()]
