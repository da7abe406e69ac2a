"""Beyond 200 tenants: tenants sharded across proxies, and growth that only adds."""

from __future__ import annotations

import json
import random

import access_handler
import pytest

from constructs_lib.function_contract import AccessConfig, session_tags
from constructs_lib.tenancy import MAX_TENANTS_PER_PROXY, Tenant, all_tenants
from tests.support import iam, terraform
from tests.support.access_stack import (
    access_function,
    assert_reach_within_own_shard,
    assert_tenant_access_roles_pinned,
    effective_connect,
    role_for,
    targets_of,
)
from tests.support.synth import MAIN_STACK, synthesize

THOUSAND = 1000
SHARE_FOR_FIVE = {"proxy_max_connections_percent": 20, "proxy_max_idle_connections_percent": 20}


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("synth-1000"), {"tenant_count": THOUSAND, **SHARE_FOR_FIVE})


def proxies_by_shard(stack):
    proxies = {p.body["name"]: p for p in stack.resources("aws_db_proxy")}
    return [proxies[f"tenantdb-proxy-{index}"] for index in range(len(proxies))]


def test_a_thousand_tenants_make_five_proxies_each_tenant_in_exactly_one(thousand):
    stack = thousand.stack()
    proxies = proxies_by_shard(stack)
    assert len(proxies) == THOUSAND // MAX_TENANTS_PER_PROXY == 5
    owners: dict[str, int] = {}
    for index, proxy in enumerate(proxies):
        users = [entry["username"] for entry in proxy.body["auth"]]
        assert users == [t.db_user for t in all_tenants(THOUSAND) if t.shard == index]
        for user in users:
            assert user not in owners, f"{user} in two proxies"
            owners[user] = index
    assert len(owners) == THOUSAND
    for proxy in proxies:
        [group] = [
            g
            for g in stack.resources("aws_db_proxy_default_target_group")
            if g.body["db_proxy_name"] == proxy.ref("name")
        ]
        assert group.body["connection_pool_config"]["max_connections_percent"] == 20
        [endpoint] = [
            e for e in stack.resources("aws_db_proxy_endpoint") if e.body["db_proxy_name"] == proxy.ref("name")
        ]
        assert endpoint.body["target_role"] == "READ_ONLY"


def test_each_tenant_reaches_its_own_user_on_its_own_shard_only(thousand):
    stack = thousand.stack()
    function_role = access_function(stack, "proxy").body["role"]
    targets = targets_of(stack, "proxy")
    rng = random.Random(7)
    sample = rng.sample(all_tenants(THOUSAND), 200)
    allowed = {}
    for tenant in sample:
        role, target, resources = effective_connect(stack, "proxy", tenant)
        assert f"rds_proxy_{tenant.shard}_resource_id" in target.resource_id  # its own shard's prx-... id
        assert resources == {target.db_user_arn(tenant)}
        allowed[tenant.id] = resources
        tags = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in session_tags(tenant)}
        context = {"aws:PrincipalArn": function_role, "aws:TagKeys": ["tenant"], **tags}
        for index, other in enumerate(targets):
            trust = iam.document(role_for(stack, other).body["assume_role_policy"])
            assert iam.trust_allows(trust, "sts:AssumeRole", function_role, context) == (index == tenant.shard)
    pairs = [(i, j) for i in allowed for j in rng.sample(list(allowed), 20) if i != j]
    assert len(pairs) > 2000
    assert not [(i, j) for i, j in pairs if any(r.endswith(f"/user{j}") for r in allowed[i])]
    shard_of_resource = {t.resource_id: index for index, t in enumerate(targets)}
    assert all(
        shard_of_resource[next(iter(r)).rsplit(":", 1)[1].split("/")[0]] == Tenant(i).shard for i, r in allowed.items()
    )


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_at_a_thousand_tenants_roles_are_pinned_and_reach_only_their_shard(thousand, side):
    assert_tenant_access_roles_pinned(thousand.stack(), side)
    assert_reach_within_own_shard(thousand.stack(), side)


@pytest.mark.terraform
def test_terraform_validate_accepts_a_thousand_tenants(thousand, terraform_config):
    output = terraform.validate(thousand.stack(MAIN_STACK).directory, terraform_config)
    assert "Success! The configuration is valid" in output


def test_the_access_function_routes_each_tenant_to_its_shard(monkeypatch):
    env = {
        "DB_ENDPOINTS": "proxy-0.example,proxy-1.example,proxy-2.example",
        "DB_RESOURCE_IDS": "prx-a,prx-b,prx-c",
        "DB_PORT": "3306",
        "DB_USER_ARN_PREFIX": "arn:aws:rds-db:eu-west-1:111122223333:dbuser:",
        "TENANT_ROLE_ARN": "arn:aws:iam::111122223333:role/t-proxy-{shard}-tenant-access",
    }
    config = AccessConfig.from_environment(
        {
            **env,
            "TENANT_COUNT": "600",
            "MAX_TENANT_CONNECTIONS": "4",
            "DB_MODE": "kept",
            "DB_MAX_AGE": "900",
            "CA_BUNDLE": "certs/amazon-root-ca.pem",
        }
    )
    route = access_handler.build_tenant_data(config, passwords=None)._route
    for tenant_id, shard in [(0, 0), (199, 0), (200, 1), (399, 1), (400, 2), (599, 2)]:
        target = route(Tenant(tenant_id))
        assert target.endpoint == f"proxy-{shard}.example"
        assert target.role_arn.endswith(f"t-proxy-{shard}-tenant-access")
        assert target.db_user_arn(Tenant(tenant_id)).endswith(f":dbuser:prx-{'abc'[shard]}/user{tenant_id}")
    single = AccessConfig.from_environment(
        {**config.to_environment(), "DB_ENDPOINTS": "db", "DB_RESOURCE_IDS": "cluster-1"}
    ).target_of
    assert single(Tenant(599)).endpoint == "db"  # the No Proxy side has one reader endpoint for all


# ---- growth -----------------------------------------------------------------------------------

GROWTH_SHARE = {"proxy_max_connections_percent": 45, "proxy_max_idle_connections_percent": 45}
# What a new tenant legitimately changes in resources that already exist, and why.
EXPECTED_CHANGES = {
    ("aws_lambda_function", "environment"): "access functions learn the new tenant count and shard endpoint",
    ("aws_lambda_function", "depends_on"): "the Proxy-side function waits for the new shard's assume-role grant "
    "(ordering only: not an attribute, nothing changes on AWS)",
    ("aws_cloudwatch_dashboard", "dashboard_body"): "the dashboard shows the new proxy's metrics",
    ("aws_instance", "user_data_base64"): "Locust draws tenants from the new range",
    ("aws_launch_template", "user_data"): "Locust draws tenants from the new range",
}


def resources_by_address(stack):
    return {r.address: {k: v for k, v in r.body.items() if k != "//"} for r in stack.resources()}


@pytest.fixture(scope="module")
def before_and_after(tmp_path_factory):
    before = synthesize(tmp_path_factory.mktemp("synth-200"), {"tenant_count": 200, **GROWTH_SHARE}).stack()
    after = synthesize(tmp_path_factory.mktemp("synth-201"), {"tenant_count": 201, **GROWTH_SHARE}).stack()
    return resources_by_address(before), resources_by_address(after)


def test_growing_from_200_to_201_adds_one_proxy_and_one_tenant_and_changes_nothing_else(before_and_after):
    before, after = before_and_after
    assert set(before) <= set(after), "no resource may disappear"
    changed = {}
    for address, body in before.items():
        if after[address] != body:
            keys = {key for key in set(body) | set(after[address]) if body.get(key) != after[address].get(key)}
            changed[address] = keys
    for address, keys in changed.items():
        type_ = address.split(".")[0]
        assert all((type_, key) in EXPECTED_CHANGES for key in keys), (address, keys)
    assert {a.split(".")[0] for a in changed} == {t for t, _ in EXPECTED_CHANGES}
    added = {address: after[address] for address in set(after) - set(before)}
    assert [b["name"] for b in added.values() if b.get("name", "").startswith("tenantdb/tenants/")] == [
        "tenantdb/tenants/200"
    ]
    [proxy] = [b for a, b in added.items() if a.startswith("aws_db_proxy.")]
    assert [entry["username"] for entry in proxy["auth"]] == ["user200"]
    invocations = [json.loads(b["input"]) for a, b in added.items() if a.startswith("aws_lambda_invocation.")]
    assert invocations == [{"first_tenant": 200, "last_tenant": 200}] * 2  # one per side, new shard only
    assert sum(a.startswith("aws_db_proxy_endpoint.") for a in added) == 1


# ---- the largest deployments settings allow ---------------------------------------------------------


def largest_tenant_count(quota: int) -> int:
    """The most tenants settings accept with ``quota`` proxies (the 4 KB environment bounds it too)."""
    from constructs_lib.settings import from_sources

    base, shards = from_sources({}, {}, {}), 1
    while shards < quota and base.proxy_access_environment_bytes(shards + 1) <= 4096:
        shards += 1
    return shards * MAX_TENANTS_PER_PROXY


@pytest.mark.parametrize("quota", [20, 1000], ids=["default proxy quota", "raised proxy quota"])
def test_the_largest_tenant_count_settings_allow_passes_the_preflight_gate(tmp_path, quota):
    from constructs_lib.preflight import AccountFacts, check_stack

    tenants = largest_tenant_count(quota)
    share = 100 // (tenants // MAX_TENANTS_PER_PROXY)
    overrides = {
        "tenant_count": tenants,
        "rds_proxy_quota": quota,
        "proxy_max_connections_percent": share,
        "proxy_max_idle_connections_percent": share,
    }
    stack = synthesize(tmp_path, overrides).stack()  # main.py ran the gate already; so does this, with figures
    result = check_stack(MAIN_STACK, stack.doc, AccountFacts(rds_proxy_quota=quota))
    assert result.findings == []
    figures = result.figures[MAIN_STACK]
    assert len(stack.resources("aws_db_proxy")) == tenants // MAX_TENANTS_PER_PROXY
    size, limit, where = figures["Lambda environment variables, total size"]
    assert size <= limit and "proxy_access" in where
    print(f"\n{tenants} tenants:\n" + result.figures_table())
