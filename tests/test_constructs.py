"""The key constructs on bare stacks (tests/support/bare.py), and props that refuse what cannot work.

The whole-app tests (test_stack_*.py) check the deployment the settings make; these check what each
construct promises whoever composes it: a proxy serves exactly its shard, a tenant-access role
admits exactly its shard's tenants, the access API routes each stage to its own function and lets
in only its callers. Props validate themselves: each rule is fed a value that breaks it.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from constructs_lib.access_api import AccessApi, AccessApiProps  # noqa: E402
from constructs_lib.aurora_cluster import AuroraClusterProps  # noqa: E402
from constructs_lib.aws import LambdaFunction  # noqa: E402
from constructs_lib.database_side import AccessSpec, DatabaseSideProps  # noqa: E402
from constructs_lib.function_contract import ConnectionPolicy  # noqa: E402
from constructs_lib.load_test import LocustFleet  # noqa: E402
from constructs_lib.load_test_side import ApiSpec, LoadTestSideProps  # noqa: E402
from constructs_lib.network import NetworkProps  # noqa: E402
from constructs_lib.tenancy import (  # noqa: E402
    MAX_TENANTS_PER_PROXY,
    MYSQL_PORT,
    SESSION_SECONDS,
    all_tenants,
    db_user_arn,
    db_user_arn_prefix,
    proxy_name,
    shards,
)
from constructs_lib.tenant_iam import TenantAccessRole, TenantAccessRoleProps  # noqa: E402
from constructs_lib.tenant_proxy import SECRET_TAG, ConnectionPool, TenantProxy, TenantProxyProps  # noqa: E402
from constructs_lib.terraform_values import ACCOUNT_ID, Evaluator  # noqa: E402
from tests.support import (
    bare,  # first: quiets node before jsii starts
    iam,  # noqa: E402
)

CALLER = "bare-access"
SHARD = 3
TENANTS = all_tenants(SHARD * MAX_TENANTS_PER_PROXY + 37)  # the shard under test is a partial one


def one_named(stack, type_, name, key="name"):
    [resource] = [r for r in stack.resources(type_) if r.body.get(key) == name]
    return resource


def value(stack, text):
    """A string of the stack as AWS would see it (references filled in with the evaluator's stand-ins)."""
    return Evaluator.for_stack(stack.doc).string(text)


def policies_of(stack, role):
    """A role's inline policies as IAM reads them."""
    return [
        json.loads(value(stack, p.body["policy"]))
        for p in stack.resources("aws_iam_role_policy")
        if p.body["role"] in (role.ref("id"), role.ref("name"))
    ]


# ---- TenantProxy ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy_stack():
    stack = bare.bare_stack()
    vpc = bare.network(stack)
    aurora = bare.cluster(stack, vpc)
    proxy = TenantProxy(
        stack,
        "proxy",
        TenantProxyProps(name_prefix=bare.NAME_PREFIX, network=vpc, cluster=aurora, tenants=shards(TENANTS)[SHARD]),
    )
    caller = bare.CallerRole(stack, "grantee", CALLER)
    role = TenantAccessRole(
        stack,
        "tenant_access",
        TenantAccessRoleProps(name="bare-tenant-access", caller_role_arn=caller.role.arn, shard=SHARD),
    )
    proxy.grant_connect(role)
    proxy.allow_mysql_from("caller", vpc.security_group(caller, "sg", CALLER, "the caller"), "caller to the proxy")
    return bare.synthesized(stack)


def test_a_proxy_serves_exactly_its_shard_each_tenant_through_its_own_secret(proxy_stack):
    name = proxy_name(bare.NAME_PREFIX, SHARD)
    proxy = one_named(proxy_stack, "aws_db_proxy", name)
    shard = shards(TENANTS)[SHARD]
    assert [entry["username"] for entry in proxy.body["auth"]] == [tenant.db_user for tenant in shard]
    assert all(entry["iam_auth"] == "REQUIRED" for entry in proxy.body["auth"])
    for entry, tenant in zip(proxy.body["auth"], shard, strict=True):
        secret = one_named(proxy_stack, "aws_secretsmanager_secret", tenant.secret_name(bare.NAME_PREFIX))
        assert entry["secret_arn"] == secret.ref("arn")
        assert secret.body["tags"] == {SECRET_TAG: name}


def test_a_proxy_reads_only_the_secrets_tagged_with_its_own_name(proxy_stack):
    name = proxy_name(bare.NAME_PREFIX, SHARD)
    role = one_named(proxy_stack, "aws_iam_role", f"{name}-proxy")
    [doc] = policies_of(proxy_stack, role)
    secret = one_named(proxy_stack, "aws_secretsmanager_secret", TENANTS[-1].secret_name(bare.NAME_PREFIX))
    arn = value(proxy_stack, secret.ref("arn"))

    def may_read(tag: str | None) -> bool:
        context = {} if tag is None else {f"secretsmanager:ResourceTag/{SECRET_TAG}": tag}
        return iam.resource_allowed(iam.allowed_resources(doc, "secretsmanager:GetSecretValue", {}, context), arn)

    assert may_read(name)
    assert not may_read(proxy_name(bare.NAME_PREFIX, SHARD + 1))
    assert not may_read(None)


def test_grant_connect_lets_a_session_connect_as_its_tagged_tenant_on_this_proxy_only(proxy_stack):
    role = one_named(proxy_stack, "aws_iam_role", "bare-tenant-access")
    proxy = one_named(proxy_stack, "aws_db_proxy", proxy_name(bare.NAME_PREFIX, SHARD))
    proxy_id = value(proxy_stack, proxy.ref("arn")).rsplit(":", 1)[1]
    tagged = {"aws:PrincipalTag/tenant": "601"}
    granted = set().union(*(iam.allowed_resources(d, "rds-db:connect", tagged) for d in policies_of(proxy_stack, role)))
    prefix = db_user_arn_prefix(partition="aws", region="eu-west-1", account=ACCOUNT_ID)
    assert iam.resource_allowed(granted, db_user_arn(prefix, proxy_id, "user601"))
    assert not iam.resource_allowed(granted, db_user_arn(prefix, proxy_id, "user602"))
    assert not iam.resource_allowed(granted, db_user_arn(prefix, "prx-another", "user601"))


def test_allow_mysql_from_opens_only_the_mysql_port_of_the_proxy_to_that_group(proxy_stack):
    proxy_sg = one_named(proxy_stack, "aws_security_group", proxy_name(bare.NAME_PREFIX, SHARD))
    caller_sg = one_named(proxy_stack, "aws_security_group", CALLER)
    into_proxy = [
        r.body
        for r in proxy_stack.resources("aws_vpc_security_group_ingress_rule")
        if r.body["security_group_id"] == proxy_sg.ref("id")
    ]
    assert [(r["referenced_security_group_id"], r["from_port"], r["to_port"]) for r in into_proxy] == [
        (caller_sg.ref("id"), MYSQL_PORT, MYSQL_PORT)
    ]


def test_a_proxy_without_the_emulator_has_a_read_only_endpoint_for_its_readers(proxy_stack):
    [endpoint] = proxy_stack.resources("aws_db_proxy_endpoint")
    assert endpoint.body["target_role"] == "READ_ONLY"


@pytest.mark.parametrize(
    ("tenants", "pool"),
    [
        ([], ConnectionPool()),
        (TENANTS[: MAX_TENANTS_PER_PROXY + 1], ConnectionPool()),  # 201 tenants on one proxy
        (TENANTS[MAX_TENANTS_PER_PROXY - 1 : MAX_TENANTS_PER_PROXY + 1], ConnectionPool()),  # two shards
    ],
)
def test_a_proxy_refuses_tenants_that_are_not_one_shard(tenants, pool):
    with pytest.raises(ValueError, match="one shard"):
        TenantProxyProps(name_prefix="x", network=None, cluster=None, tenants=tenants, pool=pool)


@pytest.mark.parametrize(("max_percent", "idle_percent"), [(50, 60), (101, 50), (90, -1)])
def test_a_connection_pool_refuses_idle_above_max_or_outside_percent(max_percent, idle_percent):
    with pytest.raises(ValueError, match="max_idle_connections_percent"):
        ConnectionPool(max_connections_percent=max_percent, max_idle_connections_percent=idle_percent)


# ---- TenantAccessRole ----------------------------------------------------------------------------------


def test_a_tenant_access_role_admits_exactly_its_shards_tenants_from_its_caller(proxy_stack):
    role = one_named(proxy_stack, "aws_iam_role", "bare-tenant-access")
    caller = one_named(proxy_stack, "aws_iam_role", CALLER)
    trust = iam.document(role.body["assume_role_policy"])
    assert role.body["max_session_duration"] == SESSION_SECONDS

    def admits(tag: str | None, principal: str = caller.ref("arn"), keys: list[str] | None = None) -> bool:
        context = {"aws:PrincipalArn": principal}
        if tag is not None:
            context |= {"aws:RequestTag/tenant": tag, "aws:TagKeys": keys or ["tenant"]}
        return iam.trust_allows(trust, "sts:AssumeRole", principal, context)

    first, last = SHARD * MAX_TENANTS_PER_PROXY, (SHARD + 1) * MAX_TENANTS_PER_PROXY - 1
    assert admits(str(first)) and admits(str(last))
    for outside in (str(first - 1), str(last + 1), f"0{first}", f"{first} ", "*", ""):
        assert not admits(outside), outside
    assert not admits(None)
    assert not admits(str(first), keys=["tenant", "admin"])
    assert not admits(str(first), principal="${aws_iam_role.someone_else.arn}")


def test_grant_assume_lets_the_grantee_assume_that_role_and_no_other():
    stack = bare.bare_stack()
    caller = bare.CallerRole(stack, "grantee", CALLER)
    role = TenantAccessRole(
        stack, "ta", TenantAccessRoleProps(name="bare-ta", caller_role_arn=caller.role.arn, shard=0)
    )
    role.grant_assume(caller)
    synth = bare.synthesized(stack)
    [doc] = policies_of(synth, one_named(synth, "aws_iam_role", CALLER))
    granted = iam.allowed_resources(doc, "sts:AssumeRole")
    assert granted == {value(synth, one_named(synth, "aws_iam_role", "bare-ta").ref("arn"))}
    assert iam.allowed_resources(doc, "sts:TagSession") == granted


# ---- AccessApi ----------------------------------------------------------------------------------------


def api_stack(endpoint_type: str, *, emulated: bool = False):
    stack = bare.bare_stack(emulated=emulated)
    clients = bare.network(stack, "clients")
    caller = bare.CallerRole(stack, "grantee", CALLER)
    functions = {
        stage: LambdaFunction(
            stack,
            f"{stage}_function",
            function_name=f"bare-{stage}",
            role=caller.role.arn,
            filename="f.zip",
            handler="h.h",
            runtime="python3.12",
        )
        for stage in ("proxy_stage", "no_proxy_stage")
    }
    AccessApi(
        stack,
        "api",
        AccessApiProps(
            name="bare-api",
            endpoint_type=endpoint_type,
            client_network=clients,
            stages=functions,
            throttling_rate_limit=100,
            throttling_burst_limit=50,
        ),
    )
    return bare.synthesized(stack)


@pytest.fixture(scope="module", params=["PRIVATE", "REGIONAL"])
def api(request):
    return request.param, api_stack(request.param)


def test_each_stage_routes_to_its_own_function_and_only_that_stage_may_invoke_it(api):
    _, stack = api
    for stage in ("proxy_stage", "no_proxy_stage"):
        [body] = [s.body for s in stack.resources("aws_api_gateway_stage") if s.body["stage_name"] == stage]
        function = one_named(stack, "aws_lambda_function", f"bare-{stage}", key="function_name")
        assert body["variables"] == {"function": function.ref("function_name")}
        [permission] = [
            p.body
            for p in stack.resources("aws_lambda_permission")
            if p.body["function_name"] == function.ref("function_name")
        ]
        assert permission["principal"] == "apigateway.amazonaws.com"
        assert permission["source_arn"].endswith(f"/{stage}/GET/")


def test_the_api_lets_in_its_client_network_only(api):
    endpoint_type, stack = api
    [rest_api] = stack.resources("aws_api_gateway_rest_api")
    [policy] = stack.resources("aws_api_gateway_rest_api_policy")
    doc = json.loads(value(stack, policy.body["policy"]))
    endpoints = [e for e in stack.resources("aws_vpc_endpoint") if e.body["service_name"].endswith("execute-api")]
    if endpoint_type == "PRIVATE":
        [endpoint] = endpoints
        assert rest_api.body["endpoint_configuration"]["vpc_endpoint_ids"] == [endpoint.ref("id")]
        caller = {"aws:SourceVpce": value(stack, endpoint.ref("id"))}
        stranger = {"aws:SourceVpce": "vpce-0elsewhere"}
    else:
        [nat] = stack.resources("aws_eip")
        assert endpoints == []
        caller = {"aws:SourceIp": value(stack, nat.ref("public_ip"))}
        stranger = {"aws:SourceIp": "192.0.2.1"}
    assert rest_api.body["endpoint_configuration"]["types"] == [endpoint_type]
    allow = [s for s in iam.statements(doc) if s["Effect"] == "Allow"]
    deny = [s for s in iam.statements(doc) if s["Effect"] == "Deny"]
    assert any(iam.conditions_hold(s, caller) for s in allow) and not any(iam.conditions_hold(s, caller) for s in deny)
    assert any(iam.conditions_hold(s, stranger) for s in deny)


def test_an_emulated_api_leaves_out_the_resource_policy_only():
    stack = api_stack("REGIONAL", emulated=True)
    assert stack.resources("aws_api_gateway_rest_api_policy") == []
    assert len(stack.resources("aws_api_gateway_stage")) == 2


def access_api_props(**changes):
    props = dict(
        name="bare-api",
        endpoint_type="PRIVATE",
        client_network=None,
        stages={"proxy_stage": None},
        throttling_rate_limit=100,
        throttling_burst_limit=50,
    )
    return AccessApiProps(**(props | changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"endpoint_type": "EDGE"}, "endpoint_type"),
        ({"stages": {}}, "at least one stage"),
        ({"stages": {"proxy stage": None}}, "stage name"),
        ({"stages": {"s" * 129: None}}, "stage name"),
        ({"throttling_burst_limit": -1}, "throttling"),
    ],
)
def test_access_api_props_refuse_what_api_gateway_refuses(changes, message):
    access_api_props()  # the unchanged props are valid
    with pytest.raises(ValueError, match=message):
        access_api_props(**changes)


# ---- the other props ------------------------------------------------------------------------------------


def network_props(**changes):
    props = dict(name="n", cidr_block="10.0.0.0/16", availability_zones=bare.ZONES, flow_logs=False)
    return NetworkProps(**(props | changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"availability_zones": ("eu-west-1a",)},
        {"availability_zones": ("eu-west-1a", "eu-west-1b", "eu-west-1c")},
        {"availability_zones": ("eu-west-1a", "eu-west-1a")},
        {"cidr_block": "10.0.0.0/23"},  # no room for four /24 subnets
        {"cidr_block": "10.0.0.0/15"},  # larger than AWS allows a VPC block
        {"cidr_block": "10.0.0.1/16"},  # host bits set
        {"cidr_block": "not-a-network"},
    ],
)
def test_network_props_refuse_what_the_subnet_layout_or_aws_cannot_hold(changes):
    network_props()
    with pytest.raises(ValueError, match="availability zones|cidr_block"):
        network_props(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reader_count": 0}, "reader_count"),
        ({"reader_count": 16}, "reader_count"),
        ({"backup_retention_days": 0}, "backup_retention_days"),
        ({"backup_retention_days": 36}, "backup_retention_days"),
    ],
)
def test_aurora_props_refuse_what_aurora_refuses(changes, message):
    props = dict(
        name="a",
        network=None,
        engine_version=bare.ENGINE_VERSION,
        writer_instance_class="db.r6g.large",
        reader_instance_class="db.r6g.large",
        performance_insights_retention_days=7,
        iam_database_authentication=True,
    )
    AuroraClusterProps(**props)
    with pytest.raises(ValueError, match=message):
        AuroraClusterProps(**(props | changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"worker_capacity": 0},
        {"worker_instance_types": ()},
        {"wait_seconds": (9.0, 5.0)},
        {"wait_seconds": (-1.0, 5.0)},
        {"ui_cidr": "203.0.113.0/33"},
    ],
)
def test_locust_fleet_refuses_what_cannot_run(changes):
    fleet = LocustFleet(
        locust_version="2.0",
        primary_instance_type="c7i.large",
        worker_instance_types=("c7i.large",),
        worker_capacity=2,
        ui_cidr="203.0.113.0/24",
    )
    with pytest.raises(ValueError):
        dataclasses.replace(fleet, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timeout_seconds": 29}, "29 s"),
        ({"timeout_seconds": 0}, "29 s"),
        ({"reserved_concurrency": 0}, "reserved concurrency"),
        ({"reserved_concurrency": -2}, "reserved concurrency"),
    ],
)
def test_access_spec_refuses_what_api_gateway_or_lambda_refuse(changes, message):
    spec = AccessSpec(timeout_seconds=10, memory_mb=512, reserved_concurrency=-1, connections=ConnectionPolicy())
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(spec, **changes)


def test_a_database_side_serves_tenants_zero_to_n():
    props = dict(
        name_prefix="x",
        cidr_block="10.0.0.0/16",
        availability_zones=bare.ZONES,
        flow_logs=False,
        package=None,
        cluster=None,
        access=None,
    )
    DatabaseSideProps(tenants=all_tenants(3), **props)
    for tenants in ([], all_tenants(3)[1:], all_tenants(3)[::-1]):
        with pytest.raises(ValueError, match="0..N-1"):
            DatabaseSideProps(tenants=tenants, **props)


def test_the_load_test_calls_each_database_side_once():
    props = dict(
        name_prefix="x",
        cidr_block="10.2.0.0/16",
        availability_zones=bare.ZONES,
        flow_logs=False,
        tenant_count=1,
        api=ApiSpec("PRIVATE", 100, 50),
        fleet=None,
    )
    proxy, no_proxy = SimpleNamespace(side="proxy"), SimpleNamespace(side="no_proxy")
    LoadTestSideProps(targets=[proxy, no_proxy], **props)
    for targets in ([], [proxy, proxy]):
        with pytest.raises(ValueError, match="each once"):
            LoadTestSideProps(targets=targets, **props)
