"""The three VPCs: address plan, subnets, gateways, flow logs, endpoints, side tags."""

import ipaddress
import json

import pytest

from constructs_lib.terraform_values import ACCOUNT_ID, Evaluator
from tests.support import iam
from tests.support.access_stack import access_function, role_for, targets_of
from tests.support.synth import BOOTSTRAP_STACK, MAIN_STACK

SIDES = {"proxy": "10.0.0.0/16", "no_proxy": "10.1.0.0/16", "load_test": "10.2.0.0/16"}


def vpcs_by_side(stack):
    return {vpc.path.split("/")[1]: vpc for vpc in stack.resources("aws_vpc")}


def test_both_stacks_require_the_pinned_aws_provider(default_synth):
    assert default_synth.stack_names == sorted([MAIN_STACK, BOOTSTRAP_STACK])
    for name in default_synth.stack_names:
        providers = default_synth.stack(name).doc["terraform"]["required_providers"]
        assert providers["aws"]["version"] == "5.100.0"


def test_three_vpcs_by_default_one_without_load_test(default_synth, proxy_only_synth):
    full = vpcs_by_side(default_synth.stack())
    assert {side: vpc.body["cidr_block"] for side, vpc in full.items()} == SIDES
    assert list(vpcs_by_side(proxy_only_synth.stack())) == ["proxy"]
    assert not proxy_only_synth.stack().under("no_proxy") and not proxy_only_synth.stack().under("load_test")


@pytest.mark.parametrize("side", SIDES)
def test_each_vpc_has_two_public_and_two_private_subnets_over_two_zones(stack, side):
    vpc = vpcs_by_side(stack)[side]
    subnets = [s for s in stack.resources("aws_subnet") if s.body["vpc_id"] == vpc.ref("id")]
    by_tier = {tier: [s for s in subnets if s.body["tags"]["tier"] == tier] for tier in ("public", "private")}
    network = ipaddress.ip_network(SIDES[side])
    blocks = [str(b) for b in network.subnets(new_prefix=24)]
    assert sorted(s.body["cidr_block"] for s in by_tier["public"]) == blocks[0:2]
    assert sorted(s.body["cidr_block"] for s in by_tier["private"]) == blocks[2:4]
    for tier in by_tier.values():
        assert len({s.body["availability_zone"] for s in tier}) == 2
    assert not any(s.body["map_public_ip_on_launch"] for s in subnets)


@pytest.mark.parametrize("side", SIDES)
def test_private_subnets_route_through_one_nat_and_public_through_the_igw(stack, side):
    vpc = vpcs_by_side(stack)[side]
    scoped = stack.under(side)
    [igw] = [r for r in scoped if r.type == "aws_internet_gateway"]
    [nat] = [r for r in scoped if r.type == "aws_nat_gateway"]
    public_ids = {s.ref("id") for s in scoped if s.type == "aws_subnet" and s.body["tags"]["tier"] == "public"}
    assert nat.body["subnet_id"] in public_ids
    routes = {r.body["route_table_id"]: r.body for r in scoped if r.type == "aws_route"}
    tables = {t.ref("id"): t for t in scoped if t.type == "aws_route_table" and t.body["vpc_id"] == vpc.ref("id")}
    for association in (r for r in scoped if r.type == "aws_route_table_association"):
        route = routes[association.body["route_table_id"]]
        assert route["destination_cidr_block"] == "0.0.0.0/0"
        if association.body["subnet_id"] in public_ids:
            assert route.get("gateway_id") == igw.ref("id")
        else:
            assert route.get("nat_gateway_id") == nat.ref("id")
    assert len(tables) == 2


def test_default_security_groups_are_stripped(stack):
    groups = stack.resources("aws_default_security_group")
    assert len(groups) == 3
    assert all("ingress" not in g.body and "egress" not in g.body for g in groups)


def test_flow_logs_follow_the_setting(default_synth, proxy_only_synth):
    stack = default_synth.stack()
    logs = stack.resources("aws_flow_log")
    assert {log.body["vpc_id"] for log in logs} == {vpc.ref("id") for vpc in stack.resources("aws_vpc")}
    assert all(log.body["traffic_type"] == "ALL" for log in logs)
    assert not proxy_only_synth.stack().resources("aws_flow_log")


def test_flow_log_role_is_scoped_and_guarded_against_confused_deputies(stack):
    for log in stack.resources("aws_flow_log"):
        [role] = [r for r in stack.resources("aws_iam_role") if r.ref("arn") == log.body["iam_role_arn"]]
        trust = json.loads(role.body["assume_role_policy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
        assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}
        assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
        policies = [p for p in stack.resources("aws_iam_role_policy") if p.body["role"] == role.ref("id")]
        [statement] = json.loads(policies[0].body["policy"])["Statement"]
        assert all(log.body["log_destination"] in resource for resource in statement["Resource"])


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_database_vpcs_have_private_secretsmanager_and_sts_endpoints(stack, side):
    vpc = vpcs_by_side(stack)[side]
    endpoints = [e for e in stack.resources("aws_vpc_endpoint") if e.body["vpc_id"] == vpc.ref("id")]
    services = sorted(e.body["service_name"].rsplit(".", 1)[1] for e in endpoints)
    assert services == ["secretsmanager", "sts"]
    for endpoint in endpoints:
        assert endpoint.body["vpc_endpoint_type"] == "Interface"
        assert endpoint.body["private_dns_enabled"] is True
        assert "${data.aws_region." in endpoint.body["service_name"]  # no region literal
        assert "${data.aws_partition." in endpoint.body["service_name"]  # nor partition


def test_endpoint_security_group_admits_https_from_its_vpc_only(stack):
    rules = [r for r in stack.resources("aws_vpc_security_group_ingress_rule") if "cidr_ipv4" in r.body]
    assert rules
    for rule in rules:
        assert (rule.body["from_port"], rule.body["to_port"]) == (443, 443)
        assert rule.body["cidr_ipv4"] in SIDES.values()


# ---- interface endpoints pass this deployment's requests only ------------------------------------------


def endpoint_policy(stack, side, service):
    vpc = vpcs_by_side(stack)[side]
    [endpoint] = [
        e
        for e in stack.resources("aws_vpc_endpoint")
        if e.body["vpc_id"] == vpc.ref("id") and e.body["service_name"].endswith(f".{service}")
    ]
    [policy] = [
        p for p in stack.resources("aws_vpc_endpoint_policy") if p.body["vpc_endpoint_id"] == endpoint.ref("id")
    ]
    return policy


def through(stack, policy, action, resource_ref, principal_ref) -> bool:
    """Whether the endpoint policy passes ``action`` on a resource by a principal of this account (values filled)."""
    values = Evaluator.for_stack(stack.doc)
    document = json.loads(values.string(policy.body["policy"]))
    context = {"aws:PrincipalAccount": ACCOUNT_ID, "aws:PrincipalArn": values.string(principal_ref)}
    return iam.resource_allowed(iam.allowed_resources(document, action, context=context), values.string(resource_ref))


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_the_sts_endpoint_passes_only_this_sides_function_assuming_this_sides_tenant_roles(stack, side):
    policy = endpoint_policy(stack, side, "sts")
    function_role = access_function(stack, side).body["role"]
    seeding_role = next(f for f in stack.under(f"{side}/seeding") if f.type == "aws_lambda_function").body["role"]
    other_side = "no_proxy" if side == "proxy" else "proxy"
    for target in targets_of(stack, side):
        role = role_for(stack, target).ref("arn")
        assert through(stack, policy, "sts:AssumeRole", role, function_role)
        assert through(stack, policy, "sts:TagSession", role, function_role)
        assert not through(stack, policy, "sts:AssumeRole", role, seeding_role)
        assert not through(stack, policy, "sts:GetFederationToken", role, function_role)
    for target in targets_of(stack, other_side):
        assert not through(stack, policy, "sts:AssumeRole", role_for(stack, target).ref("arn"), function_role)


def test_the_secrets_endpoints_pass_only_this_deployments_secrets(stack):
    anyone = "arn:aws:iam::123456789012:role/anyone-in-the-account"
    masters = {
        side: c.ref("master_user_secret[0].secret_arn")
        for side in ("proxy", "no_proxy")
        for c in [c for c in stack.under(side) if c.type == "aws_rds_cluster"]
    }
    tenant_secret = next(s for s in stack.resources("aws_secretsmanager_secret") if "/tenants/" in s.body["name"])
    tenant_secret = tenant_secret.ref("arn")
    proxy, no_proxy = (
        endpoint_policy(stack, "proxy", "secretsmanager"),
        endpoint_policy(stack, "no_proxy", "secretsmanager"),
    )
    assert through(stack, proxy, "secretsmanager:GetSecretValue", masters["proxy"], anyone)
    assert through(stack, proxy, "secretsmanager:PutSecretValue", tenant_secret, anyone)
    assert not through(stack, proxy, "secretsmanager:PutSecretValue", masters["proxy"], anyone)
    assert not through(stack, proxy, "secretsmanager:DeleteSecret", tenant_secret, anyone)
    assert not through(stack, proxy, "secretsmanager:GetSecretValue", masters["no_proxy"], anyone)
    assert through(stack, no_proxy, "secretsmanager:GetSecretValue", masters["no_proxy"], anyone)
    assert not through(stack, no_proxy, "secretsmanager:GetSecretValue", tenant_secret, anyone)
    other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:someone/else-AbCdEf"
    assert not through(stack, proxy, "secretsmanager:GetSecretValue", other, anyone)


def test_the_execute_api_endpoint_reaches_this_api_only(stack):
    policy = endpoint_policy(stack, "load_test", "execute-api")
    [api] = stack.resources("aws_api_gateway_rest_api")
    anyone = "arn:aws:iam::123456789012:role/locust"
    assert through(stack, policy, "execute-api:Invoke", api.ref("execution_arn") + "/proxy_stage/GET/", anyone)
    other_api = "arn:aws:execute-api:us-east-1:123456789012:zzzzzzzzzz/proxy_stage/GET/"
    assert not through(stack, policy, "execute-api:Invoke", other_api, anyone)
