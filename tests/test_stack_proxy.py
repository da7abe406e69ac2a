"""RDS Proxy: one IAM-required auth entry per tenant, each with its own secret, TLS, reader endpoint."""

import json

import pytest

from constructs_lib.tenancy import MAX_TENANTS_PER_PROXY, Tenant, all_tenants
from tests.support.synth import synthesize

NAME_PREFIX = "tenantdb"


def test_every_tenant_has_one_iam_required_auth_entry_with_its_own_secret(stack):
    [proxy] = stack.resources("aws_db_proxy")
    auth = proxy.body["auth"]
    secrets = {s.ref("arn"): s for s in stack.resources("aws_secretsmanager_secret")}
    assert len(auth) == 200
    assert all(entry["iam_auth"] == "REQUIRED" and entry["auth_scheme"] == "SECRETS" for entry in auth)
    assert len({entry["secret_arn"] for entry in auth}) == 200
    for entry, tenant in zip(auth, all_tenants(200), strict=True):
        secret = secrets[entry["secret_arn"]]
        assert entry["username"] == tenant.db_user
        assert secret.body["name"] == tenant.secret_name(NAME_PREFIX)


def test_proxy_requires_tls_and_targets_the_proxy_cluster(stack):
    [proxy] = stack.resources("aws_db_proxy")
    assert proxy.body["engine_family"] == "MYSQL"
    assert proxy.body["require_tls"] is True
    [cluster] = [c for c in stack.under("proxy") if c.type == "aws_rds_cluster"]
    [target] = stack.resources("aws_db_proxy_target")
    assert target.body["db_cluster_identifier"] == cluster.ref("cluster_identifier")
    [group] = stack.resources("aws_db_proxy_default_target_group")
    assert target.body["target_group_name"] == group.ref("name")  # the group exists before the target
    writer_and_readers = [i.address for i in stack.under("proxy/aurora") if i.type == "aws_rds_cluster_instance"]
    assert sorted(target.body["depends_on"]) == sorted(writer_and_readers)
    assert target.body["db_proxy_name"] == proxy.ref("name")


def test_default_target_group_has_explicit_pool_settings(stack):
    [group] = stack.resources("aws_db_proxy_default_target_group")
    pool = group.body["connection_pool_config"]
    assert pool["connection_borrow_timeout"] == 120
    assert pool["max_connections_percent"] == 90
    assert pool["max_idle_connections_percent"] == 50


def test_reader_endpoint_is_read_only_and_waits_for_the_target(stack):
    [endpoint] = stack.resources("aws_db_proxy_endpoint")
    [target] = stack.resources("aws_db_proxy_target")
    assert endpoint.body["target_role"] == "READ_ONLY"
    assert target.address in endpoint.body["depends_on"]
    assert stack.outputs["proxy_proxy_reader_endpoints"]["value"] == [endpoint.ref("endpoint")]


def tenant_secrets(stack):
    return [
        s for s in stack.resources("aws_secretsmanager_secret") if s.body["name"].startswith(f"{NAME_PREFIX}/tenants/")
    ]


def test_tenant_secrets_have_no_value_and_use_the_proxy_key(stack):
    [key] = stack.resources("aws_kms_key")
    assert key.body["enable_key_rotation"] is True
    assert len(tenant_secrets(stack)) == 200
    for secret in tenant_secrets(stack):
        assert secret.body["kms_key_id"] == key.ref("arn")


def role_policy_statements(stack, role):
    return [
        statement
        for policy in stack.resources("aws_iam_role_policy")
        if policy.body["role"] == role.ref("id")
        for statement in json.loads(policy.body["policy"])["Statement"]
    ]


def test_proxy_role_reads_only_tenant_secrets_and_decrypts_only_via_secrets_manager(stack):
    [proxy] = stack.resources("aws_db_proxy")
    [role] = [r for r in stack.resources("aws_iam_role") if r.ref("arn") == proxy.body["role_arn"]]
    trust = json.loads(role.body["assume_role_policy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "rds.amazonaws.com"}]
    assert "Condition" not in trust[0]  # RDS does not send aws:SourceAccount when it assumes the role
    statements = {s["Sid"]: s for s in role_policy_statements(stack, role)}
    assert set(statements) == {"ReadTenantSecrets", "DecryptViaSecretsManager"}
    read = statements["ReadTenantSecrets"]
    assert read["Action"] == "secretsmanager:GetSecretValue"
    assert read["Resource"].endswith(f":secret:{NAME_PREFIX}/tenants/*")
    [tag_condition] = read["Condition"]["StringEquals"].items()
    assert all(s.body["tags"][tag_condition[0].split("/")[1]] == tag_condition[1] for s in tenant_secrets(stack))
    decrypt = statements["DecryptViaSecretsManager"]
    assert decrypt["Action"] == "kms:Decrypt"
    [key] = stack.resources("aws_kms_key")
    assert decrypt["Resource"] == key.ref("arn")
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"].startswith("secretsmanager.")


def test_proxy_security_group_egress_goes_to_the_database_only(stack):
    [proxy] = stack.resources("aws_db_proxy")
    [proxy_sg] = proxy.body["vpc_security_group_ids"]
    egress = [
        r for r in stack.resources("aws_vpc_security_group_egress_rule") if r.body["security_group_id"] == proxy_sg
    ]
    [cluster] = [c for c in stack.under("proxy") if c.type == "aws_rds_cluster"]
    assert [(r.body["referenced_security_group_id"], r.body["from_port"]) for r in egress] == [
        (cluster.body["vpc_security_group_ids"][0], 3306)
    ]


@pytest.fixture(scope="module")
def small_synth(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("synth-small"), {"tenant_count": 3, "create_load_test_stack": False})


def test_tenant_count_sets_auth_entries_and_secrets(small_synth):
    stack = small_synth.stack()
    [proxy] = stack.resources("aws_db_proxy")
    assert [entry["username"] for entry in proxy.body["auth"]] == ["user0", "user1", "user2"]
    assert len(stack.resources("aws_secretsmanager_secret")) == 3


def test_tenant_naming_is_shared_and_distinct():
    tenants = all_tenants(MAX_TENANTS_PER_PROXY)
    for attribute in ("db_user", "database"):
        assert len({getattr(t, attribute) for t in tenants}) == len(tenants)
    assert len({t.secret_name(NAME_PREFIX) for t in tenants}) == len(tenants)
    assert Tenant(7).db_user == "user7" and Tenant(7).database == "user_database7"
    with pytest.raises(ValueError):
        Tenant(-1)
