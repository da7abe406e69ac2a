"""The tenant access path as synthesized: tenant IAM, access functions, and the API."""

from __future__ import annotations

import json
import re

import pytest

from constructs_lib.function_contract import IAM_TOKEN_LIFETIME_SECONDS, AccessConfig, session_tags
from constructs_lib.settings import Settings
from constructs_lib.tenancy import all_tenants
from constructs_lib.vpc_function import BASE_POLICIES
from loadtest import cloudwatch_run
from tests.support import iam
from tests.support.access_stack import (
    access_function,
    assert_reach_within_own_shard,
    assert_tenant_access_roles_pinned,
    effective_connect,
    role_for,
    targets_of,
)
from tests.support.paths import ROOT
from tests.support.synth import synthesize

TENANTS = 200
SIDES = ("proxy", "no_proxy")


@pytest.mark.parametrize("side", SIDES)
def test_every_tenant_reaches_exactly_its_own_user_and_no_other(stack, side):
    function_role = access_function(stack, side).body["role"]
    crossings = pairs = 0
    allowed = {}
    for tenant in all_tenants(TENANTS):
        role, target, resources = effective_connect(stack, side, tenant)
        trust = iam.document(role.body["assume_role_policy"])
        tags = {tag["Key"]: tag["Value"] for tag in session_tags(tenant)}
        context = {
            "aws:PrincipalArn": function_role,
            "aws:TagKeys": list(tags),
            **{f"aws:RequestTag/{k}": v for k, v in tags.items()},
        }
        assert iam.trust_allows(trust, "sts:AssumeRole", function_role, context), tenant
        assert iam.trust_allows(trust, "sts:TagSession", function_role, context), tenant
        assert resources == {target.db_user_arn(tenant)}, tenant
        assert all(r.endswith(f"/user{tenant.id}") for r in resources)
        allowed[tenant.id] = resources
    for i in allowed:
        for j in allowed:
            if i != j:
                pairs += 1
                crossings += any(r.endswith(f"/user{j}") for r in allowed[i])
    assert (pairs, crossings) == (TENANTS * (TENANTS - 1), 0)


@pytest.mark.parametrize("side", SIDES)
def test_tenant_roles_refuse_untagged_other_callers_and_extra_tags(stack, side):
    function_role = access_function(stack, side).body["role"]
    role = role_for(stack, targets_of(stack, side)[0])
    trust = iam.document(role.body["assume_role_policy"])
    base = {"aws:PrincipalArn": function_role, "aws:TagKeys": ["tenant"], "aws:RequestTag/tenant": "7"}
    assert iam.trust_allows(trust, "sts:AssumeRole", function_role, base)
    untagged = {"aws:PrincipalArn": function_role}
    assert not iam.trust_allows(trust, "sts:AssumeRole", function_role, untagged)
    extra_tag = {**base, "aws:TagKeys": ["tenant", "admin"]}
    assert not iam.trust_allows(trust, "sts:TagSession", function_role, extra_tag)
    other = "${aws_iam_role.someone_else.arn}"
    assert not iam.trust_allows(trust, "sts:AssumeRole", other, {**base, "aws:PrincipalArn": other})


def test_no_policy_grants_connect_to_every_db_user(default_synth):
    for name in default_synth.stack_names:
        stack = default_synth.stack(name)
        documents = [r.body["policy"] for r in stack.resources("aws_iam_role_policy")]
        documents += [r.body["assume_role_policy"] for r in stack.resources("aws_iam_role")]
        for text in documents:
            for statement in iam.statements(iam.document(text)):
                if "rds-db:connect" in iam.as_list(statement.get("Action", [])):
                    for resource in iam.as_list(statement["Resource"]):
                        assert not re.search(r"dbuser:(\*|[^/]*/\*)", resource), resource
                        assert "${aws:PrincipalTag/tenant}" in resource


@pytest.mark.parametrize(("side", "ca"), [("proxy", "amazon-root-ca.pem"), ("no_proxy", "rds-ca.pem")])
def test_access_functions_are_private_traced_and_bounded(stack, side, ca):
    function = access_function(stack, side)
    body, env = function.body, function.body["environment"]["variables"]
    assert body["tracing_config"]["mode"] == "Active"
    assert body["timeout"] < 29 and body["memory_size"] == 512
    assert body["reserved_concurrent_executions"] == -1
    assert env["CA_BUNDLE"].endswith(ca)
    assert env["TENANT_COUNT"] == str(TENANTS) and int(env["MAX_TENANT_CONNECTIONS"]) >= 1
    private = {s.ref("id") for s in stack.under(side) if s.type == "aws_subnet" and s.body["tags"]["tier"] == "private"}
    assert set(body["vpc_config"]["subnet_ids"]) == private


@pytest.mark.parametrize("side", SIDES)
def test_each_access_function_is_told_its_sides_connection_policy(stack, side):
    env = access_function(stack, side).body["environment"]["variables"]
    told = AccessConfig.from_environment(env).connections
    assert told == Settings().connection_policy(side)
    assert told.mode == "kept" and told.max_age_seconds <= IAM_TOKEN_LIFETIME_SECONDS


def test_the_proxy_side_keeps_more_connections_than_the_no_proxy_side(stack):
    kept = {
        side: AccessConfig.from_environment(access_function(stack, side).body["environment"]["variables"])
        for side in SIDES
    }
    assert kept["proxy"].connections.max_kept >= TENANTS > kept["no_proxy"].connections.max_kept


def test_access_functions_connect_to_the_reader_endpoints(stack):
    [endpoint] = stack.resources("aws_db_proxy_endpoint")
    assert targets_of(stack, "proxy")[0].endpoint == endpoint.ref("endpoint")
    [cluster] = [c for c in stack.under("no_proxy") if c.type == "aws_rds_cluster"]
    assert targets_of(stack, "no_proxy")[0].endpoint == cluster.ref("reader_endpoint")
    assert targets_of(stack, "no_proxy")[0].resource_id == cluster.ref("cluster_resource_id")


@pytest.mark.parametrize("side", SIDES)
def test_access_function_may_only_assume_its_tenant_roles(stack, side):
    function = access_function(stack, side)
    role_ref = function.body["role"].replace(".arn}", ".id}")
    statements = [
        s
        for p in stack.resources("aws_iam_role_policy")
        if p.body["role"] == role_ref and p.body["name"] not in BASE_POLICIES  # those: test_stack_conventions
        for s in iam.statements(iam.document(p.body["policy"]))
    ]
    assert statements and all(set(s["Action"]) == {"sts:AssumeRole", "sts:TagSession"} for s in statements)
    roles = {role_for(stack, t).ref("arn") for t in targets_of(stack, side)}
    assert {s["Resource"] for s in statements} == roles


# ---- the API ---------------------------------------------------------------------------------


def api_parts(stack):
    return {r.type: r for r in stack.under("load_test/api") if r.type != "aws_api_gateway_stage"}


def test_api_is_private_behind_the_load_test_endpoint(stack):
    [api] = stack.resources("aws_api_gateway_rest_api")
    [endpoint] = [e for e in stack.under("load_test") if e.type == "aws_vpc_endpoint"]
    assert endpoint.body["service_name"].endswith(".execute-api")
    assert api.body["endpoint_configuration"]["types"] == ["PRIVATE"]
    assert api.body["endpoint_configuration"]["vpc_endpoint_ids"] == [endpoint.ref("id")]
    [policy] = stack.resources("aws_api_gateway_rest_api_policy")
    statements = {s["Sid"]: s for s in iam.statements(iam.document(policy.body["policy"]))}
    assert statements["InvokeFromTheLoadTestVpc"]["Condition"] == {
        "StringEquals": {"aws:SourceVpce": endpoint.ref("id")}
    }
    assert statements["DenyEveryoneElse"]["Effect"] == "Deny"


def test_get_requires_the_tenant_parameter_through_a_validator(stack):
    [method] = stack.resources("aws_api_gateway_method")
    [validator] = stack.resources("aws_api_gateway_request_validator")
    assert method.body["http_method"] == "GET"
    assert method.body["request_parameters"] == {"method.request.querystring.tenant": True}
    assert method.body["request_validator_id"] == validator.ref("id")
    assert validator.body["validate_request_parameters"] is True


def test_each_stage_routes_to_its_function_with_tracing_and_json_access_logs(stack):
    [integration] = stack.resources("aws_api_gateway_integration")
    assert integration.body["type"] == "AWS_PROXY"
    assert "function:${stageVariables.function}/invocations" in integration.body["uri"].replace("$${", "${")
    stages = {s.body["stage_name"]: s for s in stack.resources("aws_api_gateway_stage")}
    assert set(stages) == {"proxy_stage", "no_proxy_stage"}
    for stage_name, side in (("proxy_stage", "proxy"), ("no_proxy_stage", "no_proxy")):
        stage = stages[stage_name]
        assert stage.body["variables"]["function"] == access_function(stack, side).ref("function_name")
        assert stage.body["xray_tracing_enabled"] is True
        line = re.sub(r"\$context\.[A-Za-z.]+", "sample-value", stage.body["access_log_settings"]["format"])
        assert set(json.loads(line)) >= {"requestId", "status", "stage", "integrationLatency"}


def test_stage_throttling_and_permissions_are_scoped(stack):
    settings = stack.resources("aws_api_gateway_method_settings")
    assert len(settings) == 2
    for setting in settings:
        assert setting.body["settings"]["throttling_rate_limit"] == 1000
        assert setting.body["settings"]["throttling_burst_limit"] == 2000
    [api] = stack.resources("aws_api_gateway_rest_api")
    permissions = {p.body["source_arn"]: p for p in stack.resources("aws_lambda_permission")}
    for stage_name, side in (("proxy_stage", "proxy"), ("no_proxy_stage", "no_proxy")):
        permission = permissions[f"{api.ref('execution_arn')}/{stage_name}/GET/"]
        assert permission.body["function_name"] == access_function(stack, side).ref("function_name")
        assert permission.body["principal"] == "apigateway.amazonaws.com"


def test_outputs_name_the_api_functions_and_logs(stack):
    outputs = stack.outputs
    for key in (
        "api_url",
        "api_proxy_stage_url",
        "api_no_proxy_stage_url",
        "api_access_log_groups",
        "proxy_access_function_name",
        "no_proxy_access_function_name",
    ):
        assert key in outputs


def test_the_report_finds_every_name_it_asks_cloudwatch_for_among_the_outputs(stack):
    values = {name: output["value"] for name, output in stack.outputs.items()}
    asked = cloudwatch_run.queries(values)  # a missing output is a KeyError here, not on the operator's machine
    [api] = stack.resources("aws_api_gateway_rest_api")
    assert values["api_name"] == api.ref("name")
    dimensions = [q.dimensions for q in asked]
    assert {"ApiName": api.ref("name"), "Stage": "no_proxy_stage"} in dimensions
    clusters = {c.ref("cluster_identifier") for c in stack.resources("aws_rds_cluster")}
    assert {d["DBClusterIdentifier"] for d in dimensions if "DBClusterIdentifier" in d} == clusters


def test_without_the_load_test_the_proxy_access_function_remains(proxy_only_synth):
    stack = proxy_only_synth.stack()
    assert access_function(stack, "proxy")
    assert not stack.resources("aws_api_gateway_rest_api")


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("regional"), {"api_endpoint_type": "REGIONAL", "tenant_count": 2}).stack()


def test_regional_api_admits_only_the_load_test_nat_address(regional):
    [api] = regional.resources("aws_api_gateway_rest_api")
    assert api.body["endpoint_configuration"]["types"] == ["REGIONAL"]
    assert not [e for e in regional.under("load_test") if e.type == "aws_vpc_endpoint"]
    [policy] = regional.resources("aws_api_gateway_rest_api_policy")
    allow = next(iam.statements(iam.document(policy.body["policy"])))
    [eip] = [e for e in regional.under("load_test") if e.type == "aws_eip"]
    assert allow["Condition"] == {"IpAddress": {"aws:SourceIp": f"{eip.ref('public_ip')}/32"}}


# ---- tenant-access roles pinned exactly, and their reach under adversarial tags -----------------------


@pytest.mark.parametrize("side", SIDES)
def test_tenant_access_roles_are_exactly_what_isolation_needs(stack, side):
    """Pinned without the snapshot: one permission statement, these trust conditions, nothing else."""
    assert_tenant_access_roles_pinned(stack, side)


@pytest.mark.parametrize("side", SIDES)
def test_no_tenant_access_role_reaches_beyond_its_shard_whatever_tag_it_is_given(stack, side):
    assert_reach_within_own_shard(stack, side)


def test_the_evaluator_knows_wildcard_actions_and_conditions():
    wildcard = {"Statement": [{"Effect": "Allow", "Action": "rds-db:*", "Resource": "*"}]}
    assert iam.allowed_resources(wildcard, "rds-db:connect") == {"*"}
    assert iam.resource_allowed({"*"}, "arn:aws:rds-db:us-east-1:1:dbuser:prx-1/user7")
    everything = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:rds-db:*"}]}
    assert iam.allowed_resources(everything, "RDS-DB:Connect") == {"arn:aws:rds-db:*"}
    conditional = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "Resource": "x",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "a"}},
            }
        ]
    }
    assert iam.allowed_resources(conditional, "rds-db:connect", context={"aws:PrincipalTag/team": "a"}) == {"x"}
    assert iam.allowed_resources(conditional, "rds-db:connect", context={"aws:PrincipalTag/team": "b"}) == set()
    assert iam.allowed_resources(conditional, "rds-db:connect") == set()
    with pytest.raises(NotImplementedError):
        iam.allowed_resources({"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}, "x")


def test_the_blog_readers_map_names_only_settings_and_outputs_that_exist(stack):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## For readers of the AWS blog post")[1].split("\n## ")[0]
    table = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| The blog")]
    named = {name for line in table for name in re.findall(r"`([a-z][a-z0-9_]+)`", line.split("|")[2])}
    known = set(Settings.model_fields) | set(stack.outputs)
    assert len(named) > 20 and named <= known, sorted(named - known)
