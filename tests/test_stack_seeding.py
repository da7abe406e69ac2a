"""The seeding function as deployed: network, least privilege, and one invocation per shard."""

import json

import pytest

from constructs_lib.settings import from_sources
from constructs_lib.tenancy import MAX_TENANTS_PER_PROXY
from constructs_lib.tenant_seeding import seed_request
from constructs_lib.vpc_function import BASE_POLICIES
from tests.support.synth import synthesize


def seeding_parts(stack, side):
    scoped = stack.under(f"{side}/seeding")
    [function] = [r for r in scoped if r.type == "aws_lambda_function"]
    invocations = [r for r in scoped if r.type == "aws_lambda_invocation"]
    return function, invocations


def policies_of(stack, function):
    role_ref = function.body["role"].replace(".arn}", ".id}")
    return {
        p.body["name"]: json.loads(p.body["policy"])["Statement"]
        for p in stack.resources("aws_iam_role_policy")
        if p.body["role"] == role_ref and p.body["name"] not in BASE_POLICIES  # those: test_stack_conventions
    }


@pytest.mark.parametrize(("side", "auth"), [("proxy", "password"), ("no_proxy", "iam")])
def test_seeding_runs_in_private_subnets_with_xray_and_tls_to_the_writer(stack, side, auth):
    function, _ = seeding_parts(stack, side)
    [cluster] = [c for c in stack.under(side) if c.type == "aws_rds_cluster"]
    private = {s.ref("id") for s in stack.under(side) if s.type == "aws_subnet" and s.body["tags"]["tier"] == "private"}
    assert set(function.body["vpc_config"]["subnet_ids"]) == private
    assert function.body["tracing_config"]["mode"] == "Active"
    environment = function.body["environment"]["variables"]
    assert environment["DB_HOST"] == cluster.ref("endpoint")  # the writer
    assert environment["TENANT_AUTH"] == auth
    assert environment["CA_BUNDLE"].endswith(".pem")
    assert function.body["runtime"].startswith("python3.1")


def test_proxy_side_seeding_may_read_the_master_secret_and_fill_tenant_secrets_only(stack):
    function, _ = seeding_parts(stack, "proxy")
    statements = {s["Sid"]: s for ss in policies_of(stack, function).values() for s in ss}
    assert set(statements) == {"ReadMasterUserSecret", "FillTenantSecrets", "EncryptViaSecretsManager"}
    [cluster] = [c for c in stack.under("proxy") if c.type == "aws_rds_cluster"]
    assert statements["ReadMasterUserSecret"]["Resource"] == cluster.ref("master_user_secret[0].secret_arn")
    assert statements["ReadMasterUserSecret"]["Action"] == "secretsmanager:GetSecretValue"
    fill = statements["FillTenantSecrets"]
    assert set(fill["Action"]) == {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}
    assert fill["Resource"].endswith(":secret:tenantdb/tenants/*")
    assert "kms:ViaService" in statements["EncryptViaSecretsManager"]["Condition"]["StringEquals"]


def test_no_proxy_side_seeding_reads_only_the_master_secret(stack):
    function, _ = seeding_parts(stack, "no_proxy")
    statements = [s for ss in policies_of(stack, function).values() for s in ss]
    assert [s["Sid"] for s in statements] == ["ReadMasterUserSecret"]


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_seeding_is_invoked_after_the_writer_with_its_tenant_range(stack, side):
    function, invocations = seeding_parts(stack, side)
    [invocation] = invocations
    assert invocation.body["function_name"] == function.ref("function_name")
    assert json.loads(invocation.body["input"]) == {"first_tenant": 0, "last_tenant": 199}
    [writer] = [i for i in stack.under(side) if i.type == "aws_rds_cluster_instance" and "depends_on" not in i.body]
    assert writer.address in invocation.body["depends_on"]
    assert invocation.body["triggers"]["code"] == function.body["source_code_hash"]


def test_proxy_side_is_seeded_even_without_the_load_test(proxy_only_synth):
    """As in the blog: without the load test the tenants exist, with empty tables (no dummy data)."""
    stack = proxy_only_synth.stack()
    _, invocations = seeding_parts(stack, "proxy")
    assert [json.loads(i.body["input"]) for i in invocations] == [
        {"first_tenant": 0, "last_tenant": 199, "sample_rows": False}
    ]
    assert not stack.under("no_proxy")


@pytest.mark.parametrize(
    ("settings", "sample_data"),
    [
        ({}, True),
        ({"create_load_test_stack": "false"}, False),
        ({"create_load_test_stack": "false", "load_sample_data": "true"}, True),
        ({"load_sample_data": "false"}, False),
    ],
)
def test_sample_data_follows_the_load_test_unless_set(settings, sample_data):
    assert from_sources({}, {}, settings).sample_data is sample_data
    request = seed_request(0, 199, from_sources({}, {}, settings).sample_data)
    # The default input is the one deployed before the option existed: no invocation is replaced.
    assert request == ({"first_tenant": 0, "last_tenant": 199} if sample_data else {**request, "sample_rows": False})


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    overrides = {
        "create_load_test_stack": False,
        "load_sample_data": True,
        "tenant_count": MAX_TENANTS_PER_PROXY + 1,
        "proxy_max_connections_percent": 50,
    }
    return synthesize(tmp_path_factory.mktemp("synth-201"), overrides).stack()


def test_each_shard_is_seeded_by_its_own_invocation(grown):
    _, invocations = seeding_parts(grown, "proxy")
    ranges = sorted(json.loads(i.body["input"])["first_tenant"] for i in invocations)
    assert ranges == [0, MAX_TENANTS_PER_PROXY]
    inputs = {json.loads(i.body["input"])["first_tenant"]: json.loads(i.body["input"]) for i in invocations}
    assert inputs[0] == {"first_tenant": 0, "last_tenant": MAX_TENANTS_PER_PROXY - 1}  # unchanged: not re-run
    assert inputs[MAX_TENANTS_PER_PROXY] == {
        "first_tenant": MAX_TENANTS_PER_PROXY,
        "last_tenant": MAX_TENANTS_PER_PROXY,
    }
