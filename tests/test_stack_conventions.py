"""Conventions every resource follows: tags, unique names, no hard-coded partition/account/region."""

import json
import re
from collections import Counter

from constructs_lib.settings import Settings
from constructs_lib.vpc_function import BASE_POLICIES
from tests.support.synth import BOOTSTRAP_STACK, MAIN_STACK

DEFAULTS = Settings()
SIDES = ("proxy", "no_proxy", "load_test")
# Inline role policies and request validators are named within their role or API, not the account.
NAMED_WITHIN_PARENT = {"aws_iam_role_policy", "aws_api_gateway_request_validator"}


def strings_with_paths(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings_with_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings_with_paths(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def test_provider_default_tags_mark_project_environment_and_deployment(default_synth):
    for name in (MAIN_STACK, BOOTSTRAP_STACK):
        [provider] = default_synth.stack(name).doc["provider"]["aws"]
        [default_tags] = provider["default_tags"]
        assert default_tags["tags"]["environment"] == DEFAULTS.environment
        assert default_tags["tags"]["deployment"] == DEFAULTS.name_prefix
        assert default_tags["tags"]["project"]


def test_no_hard_coded_partition_account_or_region(default_synth):
    region_allowed_at = {
        ("provider", "aws", 0, "region"),
        ("terraform", "backend", "s3", "region"),
        ("terraform", "backend", "s3", "bucket"),  # the default bucket name carries the region
    }
    for name in default_synth.stack_names:
        for path, text in strings_with_paths(default_synth.stack(name).doc):
            if path and path[0] == "//":
                continue
            assert not re.search(r"arn:aws(-[a-z]+)?:", text), (name, path, text)
            assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", text), (name, path, text)
            if DEFAULTS.region in text and name == MAIN_STACK:
                assert path in region_allowed_at, (path, text)


def test_names_are_unique_per_resource_type(default_synth):
    for name in default_synth.stack_names:
        stack = default_synth.stack(name)
        for type_ in {r.type for r in stack.resources()} - NAMED_WITHIN_PARENT:
            names = Counter(
                r.body.get("name") or r.body.get("identifier") or r.body.get("cluster_identifier")
                for r in stack.resources(type_)
            )
            names.pop(None, None)
            assert not [n for n, count in names.items() if count > 1], type_


def test_every_resource_name_starts_with_the_prefix(stack):
    for resource in (r for r in stack.resources() if r.type not in NAMED_WITHIN_PARENT):
        for key in ("name", "identifier", "cluster_identifier", "db_proxy_endpoint_name"):
            value = resource.body.get(key)
            if isinstance(value, str) and not value.startswith("${"):
                assert DEFAULTS.name_prefix in value, (resource.address, key, value)


def test_functions_write_only_their_own_logs_and_use_no_managed_policy(stack):
    for function in stack.resources("aws_lambda_function"):
        role_name = function.body["role"].replace(".arn}", ".name}")
        role_id = function.body["role"].replace(".arn}", ".id}")
        assert not [a for a in stack.resources("aws_iam_role_policy_attachment") if a.body["role"] == role_name]
        base = {
            p.body["name"]: json.loads(p.body["policy"])["Statement"]
            for p in stack.resources("aws_iam_role_policy")
            if p.body["role"] == role_id and p.body["name"] in BASE_POLICIES
        }
        [logs] = base["write-own-logs"]
        [group] = [
            g
            for g in stack.resources("aws_cloudwatch_log_group")
            if g.body["name"] == f"/aws/lambda/{function.body['function_name']}"
        ]
        assert logs["Resource"] == f"{group.ref('arn')}:*" and set(logs["Action"]) == {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        }
        [network] = base["vpc-network-interfaces"]
        assert all(
            action.startswith("ec2:")
            and "NetworkInterface" in action
            or action in ("ec2:DescribeSubnets", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")
            for action in network["Action"]
        )
        [traces] = base["write-traces"]
        assert set(traces["Action"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


MANAGED_POLICIES_KEPT = {  # each kept for its reason in the README's roles table
    "service-role/AmazonAPIGatewayPushToCloudWatchLogs",
    "AmazonSSMManagedInstanceCore",
    "service-role/AmazonEC2SpotFleetTaggingRole",
}


def test_only_the_managed_policies_the_readme_explains_are_attached(stack):
    attached = {a.body["policy_arn"].split(":policy/", 1)[1] for a in stack.resources("aws_iam_role_policy_attachment")}
    assert attached == MANAGED_POLICIES_KEPT
