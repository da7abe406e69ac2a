"""The access API: GET /?tenant=N on a REST API with stages proxy_stage and no_proxy_stage.

One method and one AWS_PROXY integration serve both stages: each stage's ``function`` variable
names the function it routes to. PRIVATE APIs are reachable only through the execute-api
endpoint of the Load Test VPC (resource policy on ``aws:SourceVpce``); REGIONAL ones only from
the Load Test VPC's NAT address (``aws:SourceIp``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from cdktf import Fn, TerraformResourceLifecycle
from constructs import Construct

from constructs_lib.aws import (
    ApiGatewayAccount,
    ApiGatewayDeployment,
    ApiGatewayIntegration,
    ApiGatewayMethod,
    ApiGatewayMethodSettings,
    ApiGatewayMethodSettingsSettings,
    ApiGatewayRequestValidator,
    ApiGatewayRestApi,
    ApiGatewayRestApiEndpointConfiguration,
    ApiGatewayRestApiPolicy,
    ApiGatewayStage,
    ApiGatewayStageAccessLogSettings,
    CloudwatchLogGroup,
    LambdaFunction,
    LambdaPermission,
)
from constructs_lib.iam import service_role
from constructs_lib.network import Network
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement, document

# Every value is a quoted string of a variable that holds no quote, so each line is valid JSON.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "stage": "$context.stage",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integrationLatency",
    "responseLatency": "$context.responseLatency",
    "sourceIp": "$context.identity.sourceIp",
    "vpceId": "$context.identity.vpceId",
    "xrayTraceId": "$context.xrayTraceId",
}
ACCESS_LOG_FORMAT = json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))
EndpointType = Literal["PRIVATE", "REGIONAL"]
# "Stage names can only contain alphanumeric characters, hyphens, and underscores. Maximum length is 128
# characters." (https://docs.aws.amazon.com/apigateway/latest/api/API_CreateStage.html)
STAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class AccessApiProps:
    name: str
    endpoint_type: EndpointType
    client_network: Network  # where the callers (Locust) run
    stages: Mapping[str, LambdaFunction]  # stage name -> the function it routes to
    throttling_rate_limit: int
    throttling_burst_limit: int
    log_retention_days: int = 30

    def __post_init__(self) -> None:
        if self.endpoint_type not in get_args(EndpointType):
            raise ValueError(
                f"{self.name}: endpoint_type is one of {get_args(EndpointType)}, not {self.endpoint_type!r}"
            )
        if not self.stages:
            raise ValueError(f"{self.name}: an access API needs at least one stage")
        for stage in self.stages:
            if not STAGE_NAME.fullmatch(stage):
                raise ValueError(f"{self.name}: stage name {stage!r} is not 1-128 letters, digits, '-' or '_'")
        if self.throttling_rate_limit < 0 or self.throttling_burst_limit < 0:
            raise ValueError(f"{self.name}: throttling limits are not negative")


class AccessApi(Construct):
    def __init__(self, scope: Construct, id: str, props: AccessApiProps) -> None:
        super().__init__(scope, id)
        stack = AwsStack.of(self)
        private = props.endpoint_type == "PRIVATE"
        endpoint = props.client_network.add_interface_endpoint("execute-api") if private else None
        self.api = ApiGatewayRestApi(
            self,
            "api",
            name=props.name,
            description="Tenant data access: GET /?tenant=N",
            endpoint_configuration=ApiGatewayRestApiEndpointConfiguration(
                types=[props.endpoint_type], vpc_endpoint_ids=[endpoint.id] if endpoint else None
            ),
        )
        caller = (
            {"StringEquals": {"aws:SourceVpce": endpoint.id}}
            if endpoint
            else {"IpAddress": {"aws:SourceIp": f"{props.client_network.nat_public_ip}/32"}}
        )
        not_caller = (
            {"StringNotEquals": {"aws:SourceVpce": endpoint.id}}
            if endpoint
            else {"NotIpAddress": {"aws:SourceIp": f"{props.client_network.nat_public_ip}/32"}}
        )
        invoke_arn = f"{self.api.execution_arn}/*/GET/"
        resource_policy = document(
            Statement(
                sid="InvokeFromTheLoadTestVpc",
                principal="*",
                actions="execute-api:Invoke",
                resources=invoke_arn,
                conditions=caller,
            ),
            Statement(
                sid="DenyEveryoneElse",
                effect="Deny",
                principal="*",
                actions="execute-api:Invoke",
                resources=invoke_arn,
                conditions=not_caller,
            ),
        )
        policies = (
            [ApiGatewayRestApiPolicy(self, "policy", rest_api_id=self.api.id, policy=resource_policy)]
            if stack.capabilities.api_resource_policy
            else []
        )
        if endpoint:
            props.client_network.allow_through_endpoint(
                "execute-api",
                sid="InvokeThisApiOnly",
                actions=["execute-api:Invoke"],
                resources=[f"{self.api.execution_arn}/*"],
            )
        validator = ApiGatewayRequestValidator(
            self, "validator", rest_api_id=self.api.id, name="tenant-required", validate_request_parameters=True
        )
        method = ApiGatewayMethod(
            self,
            "get",
            rest_api_id=self.api.id,
            resource_id=self.api.root_resource_id,
            http_method="GET",
            authorization="NONE",  # the resource policy decides who may call
            request_parameters={"method.request.querystring.tenant": True},
            request_validator_id=validator.id,
        )
        function_arn = stack.arn("lambda", "function:$${stageVariables.function}")
        integration = ApiGatewayIntegration(
            self,
            "integration",
            rest_api_id=self.api.id,
            resource_id=self.api.root_resource_id,
            http_method=method.http_method,
            type="AWS_PROXY",
            integration_http_method="POST",
            uri=f"arn:{stack.partition}:apigateway:{stack.region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
            timeout_milliseconds=29_000,
        )
        deployment = ApiGatewayDeployment(
            self,
            "deployment",
            rest_api_id=self.api.id,
            # A deployment is a snapshot: take a new one whenever what it snapshots changes.
            triggers={
                "redeployment": Fn.sha1(
                    Fn.jsonencode(
                        [method.request_parameters, method.request_validator_id, integration.uri]
                        + [policy.policy for policy in policies]
                    )
                )
            },
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=[method, integration, *policies],
        )
        account_logging = self._account_logging(props.name)
        # Inside the Load Test VPC this name resolves to the execute-api endpoint (private DNS).
        self.base_url = f"https://{self.api.id}.execute-api.{stack.region}.{stack.dns_suffix}"
        self.stages: dict[str, ApiGatewayStage] = {}
        self.log_groups: dict[str, CloudwatchLogGroup] = {}
        for stage_name, function in props.stages.items():
            log_group = CloudwatchLogGroup(
                self,
                f"{stage_name}_access_logs",
                name=f"/aws/apigateway/{props.name}/{stage_name}",
                retention_in_days=props.log_retention_days,
            )
            stage = ApiGatewayStage(
                self,
                stage_name,
                rest_api_id=self.api.id,
                deployment_id=deployment.id,
                stage_name=stage_name,
                variables={"function": function.function_name},
                xray_tracing_enabled=True,
                access_log_settings=ApiGatewayStageAccessLogSettings(
                    destination_arn=log_group.arn, format=ACCESS_LOG_FORMAT
                ),
                depends_on=[account_logging],
            )
            ApiGatewayMethodSettings(
                self,
                f"{stage_name}_settings",
                rest_api_id=self.api.id,
                stage_name=stage.stage_name,
                method_path="*/*",
                settings=ApiGatewayMethodSettingsSettings(
                    metrics_enabled=True,
                    throttling_rate_limit=props.throttling_rate_limit,
                    throttling_burst_limit=props.throttling_burst_limit,
                ),
            )
            LambdaPermission(
                self,
                f"{stage_name}_invoke",
                statement_id=f"invoke-from-{stage_name}",
                action="lambda:InvokeFunction",
                function_name=function.function_name,
                principal="apigateway.amazonaws.com",
                source_arn=f"{self.api.execution_arn}/{stage_name}/GET/",
            )
            self.stages[stage_name] = stage
            self.log_groups[stage_name] = log_group

    def _account_logging(self, name: str) -> ApiGatewayAccount:
        """API Gateway writes access logs only once the account names a role for it (a per-region setting).

        API Gateway checks the role's permissions when the setting is made, so it waits for the grant;
        destroy resets the setting instead of leaving it pointing at a deleted role (``reset_on_delete``,
        deprecated in provider 5.x because 6.x always does so).
        """
        role = service_role(
            self,
            "cloudwatch_role",
            name=f"{name}-apigw-logs",
            service="apigateway",
            policies={},
            managed_policies=("service-role/AmazonAPIGatewayPushToCloudWatchLogs",),
        )
        reset = AwsStack.of(self).capabilities.api_account_reset
        account = ApiGatewayAccount(self, "account", cloudwatch_role_arn=role.arn, reset_on_delete=reset or None)
        role.used_by(account)
        return account
