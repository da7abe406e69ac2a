"""Aurora clusters: pinned, encrypted, TLS-only, RDS-managed password, 1 writer + 2 readers."""

import re

import pytest

from constructs_lib.settings import Settings

DEFAULTS = Settings()


def cluster_of(stack, side):
    [cluster] = [c for c in stack.under(side) if c.type == "aws_rds_cluster"]
    return cluster


def instances_of(stack, cluster):
    return [i for i in stack.resources("aws_rds_cluster_instance") if i.body["cluster_identifier"] == cluster.ref("id")]


@pytest.mark.parametrize(("side", "iam_auth"), [("proxy", False), ("no_proxy", True)])
def test_cluster_is_pinned_encrypted_and_iam_auth_only_where_lambda_uses_it(stack, side, iam_auth):
    body = cluster_of(stack, side).body
    assert body["engine"] == "aurora-mysql"
    assert body["engine_version"] == DEFAULTS.aurora_engine_version
    assert body["storage_encrypted"] is True
    assert body["manage_master_user_password"] is True
    assert "master_password" not in body
    assert body["iam_database_authentication_enabled"] is iam_auth


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_one_writer_two_readers_with_performance_insights_on_readers(stack, side):
    cluster = cluster_of(stack, side)
    instances = instances_of(stack, cluster)
    writers = [i for i in instances if "depends_on" not in i.body]
    readers = [i for i in instances if "depends_on" in i.body]
    assert len(writers) == 1 and len(readers) == 2
    [writer] = writers
    assert writer.body["instance_class"] == DEFAULTS.writer_instance_class
    assert writer.body["performance_insights_enabled"] is False
    for reader in readers:
        assert reader.body["depends_on"] == [writer.address]  # the writer is created first
        assert reader.body["instance_class"] == DEFAULTS.reader_instance_class
        assert reader.body["performance_insights_enabled"] is True
        assert reader.body["performance_insights_retention_period"] == DEFAULTS.performance_insights_retention_days
    assert all(i.body["publicly_accessible"] is False for i in instances)


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_parameter_group_requires_tls(stack, side):
    cluster = cluster_of(stack, side)
    [group] = [
        g
        for g in stack.resources("aws_rds_cluster_parameter_group")
        if g.ref("name") == cluster.body["db_cluster_parameter_group_name"]
    ]
    assert {"name": "require_secure_transport", "value": "ON"} in group.body["parameter"]


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_cluster_lives_in_private_subnets(stack, side):
    cluster = cluster_of(stack, side)
    [group] = [
        g for g in stack.resources("aws_db_subnet_group") if g.ref("name") == cluster.body["db_subnet_group_name"]
    ]
    private = {s.ref("id") for s in stack.under(side) if s.type == "aws_subnet" and s.body["tags"]["tier"] == "private"}
    assert set(group.body["subnet_ids"]) == private


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_database_port_opens_only_to_named_security_groups(stack, side):
    cluster = cluster_of(stack, side)
    [db_sg] = cluster.body["vpc_security_group_ids"]
    rules = [r for r in stack.resources("aws_vpc_security_group_ingress_rule") if r.body["security_group_id"] == db_sg]
    for rule in rules:
        assert (rule.body["from_port"], rule.body["to_port"]) == (3306, 3306)
        assert "referenced_security_group_id" in rule.body and "cidr_ipv4" not in rule.body
    [db_group] = [g for g in stack.resources("aws_security_group") if g.ref("id") == db_sg]
    assert "ingress" not in db_group.body and "egress" not in db_group.body  # rules are separate resources


def function_security_group(stack, side, role):
    [function] = [f for f in stack.under(f"{side}/{role}") if f.type == "aws_lambda_function"]
    return function.body["vpc_config"]["security_group_ids"][0]


@pytest.mark.parametrize("side", ["proxy", "no_proxy"])
def test_cluster_admits_exactly_its_callers(stack, side):
    db_sg = cluster_of(stack, side).body["vpc_security_group_ids"][0]
    sources = {
        r.body["referenced_security_group_id"]
        for r in stack.resources("aws_vpc_security_group_ingress_rule")
        if r.body["security_group_id"] == db_sg
    }
    callers = {function_security_group(stack, side, "seeding")}
    if side == "proxy":  # the access function reaches the database only through the proxies
        callers |= {p.body["vpc_security_group_ids"][0] for p in stack.resources("aws_db_proxy")}
    else:
        callers.add(function_security_group(stack, side, "access"))
    assert sources == callers


# Keys that say *how* a password is handled, never what it is.
PASSWORD_POLICY_KEYS = {"manage_master_user_password", "client_password_auth_type"}


def keys_and_strings(node, key=""):
    if isinstance(node, dict):
        for child_key, value in node.items():
            yield child_key, None
            yield from keys_and_strings(value, child_key)
    elif isinstance(node, list):
        for value in node:
            yield from keys_and_strings(value, key)
    elif isinstance(node, str):
        yield key, node


def test_no_password_or_secret_value_anywhere(default_synth, proxy_only_synth):
    for synth in (default_synth, proxy_only_synth):
        for name in synth.stack_names:
            stack = synth.stack(name)
            assert not stack.resources("aws_secretsmanager_secret_version")
            for key, text in keys_and_strings(stack.doc):
                if text is None:
                    assert not re.search(r"password|secret_string|secret_binary|secret_key|access_key", key) or (
                        key in PASSWORD_POLICY_KEYS
                    ), f"{name}: {key}"
                else:
                    assert not re.search(r"BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16}", text), f"{name}: {key}"


def test_outputs_name_endpoints_and_replicas(stack):
    for side in ("proxy", "no_proxy"):
        cluster = cluster_of(stack, side)
        outputs = stack.outputs
        assert outputs[f"{side}_writer_endpoint"]["value"] == cluster.ref("endpoint")
        assert outputs[f"{side}_reader_endpoint"]["value"] == cluster.ref("reader_endpoint")
        assert outputs[f"{side}_cluster_id"]["value"] == cluster.ref("cluster_identifier")
        readers = [i for i in instances_of(stack, cluster) if "depends_on" in i.body]
        assert sorted(outputs[f"{side}_replica_ids"]["value"]) == sorted(r.ref("identifier") for r in readers)
