"""The preflight gate: AWS's documented rules hold on the real stacks, and each rule refuses a violation.

Every rule gets a configuration that breaks it (the real stack, changed in one place) and must name
it; the real stacks must pass. The gate also runs at the end of every synth (``main.py``), so every
synthesized variant in this suite has passed it.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import os

import pytest

from constructs_lib import aws_rules, preflight
from constructs_lib.function_contract import RDS_CA_FILE
from constructs_lib.preflight import AccountFacts, check_stack
from tests.support.synth import MAIN_STACK

FACTS = AccountFacts(today=datetime.date(2026, 11, 27))


def rules_broken(doc, facts=FACTS) -> set[str]:
    return {finding.rule for finding in check_stack(MAIN_STACK, doc, facts).findings}


@pytest.fixture
def doc(stack):
    """A private copy of the default main stack's Terraform JSON, to break in one place."""
    return copy.deepcopy(stack.doc)


def resources(doc, type_):
    return doc["resource"][type_]


def one(doc, type_, match=lambda name, body: True):
    return next(body for name, body in resources(doc, type_).items() if match(name, body))


def access_function(doc, side="proxy"):
    return one(doc, "aws_lambda_function", lambda name, body: name.startswith(f"{side}_access"))


def test_the_real_stacks_pass_every_rule(default_synth, proxy_only_synth):
    for synth in (default_synth, proxy_only_synth):
        for name in synth.stack_names:
            result = check_stack(name, synth.stack(name).doc, FACTS)
            assert result.findings == [], name
    figures = check_stack(MAIN_STACK, default_synth.stack().doc, FACTS).figures[MAIN_STACK]
    assert len(figures) >= 15  # every size rule measured something


def test_every_rule_cites_an_aws_page():
    for limit in [v for v in vars(aws_rules).values() if isinstance(v, aws_rules.Limit)]:
        assert limit.source.startswith("https://docs.aws.amazon.com/"), limit
    for rule in aws_rules.NAME_RULES.values():
        assert rule.source.startswith("https://docs.aws.amazon.com/"), rule
    for page in aws_rules.SOURCE_CONDITIONS_DOCUMENTED.values():
        assert page.startswith("https://docs.aws.amazon.com/")


# ---- sizes ------------------------------------------------------------------------------------------


def test_inline_policies_of_a_role_over_10240_characters(doc):
    [(name, policy)] = [(n, b) for n, b in resources(doc, "aws_iam_role_policy").items() if "read-master" in n][:1]
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "b" * 10_200}
    resources(doc, "aws_iam_role_policy")[f"{name}_copy"] = {**policy, "policy": json.dumps({"Statement": [statement]})}
    assert "iam-inline-policies-per-role" in rules_broken(doc)


def test_managed_policy_over_6144_characters(doc):
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "b" * 6200}
    resources(doc, "aws_iam_role")  # the stack has roles; add one managed policy next to them
    doc["resource"]["aws_iam_policy"] = {"big": {"name": "big", "policy": json.dumps({"Statement": [statement]})}}
    assert "iam-managed-policy-size" in rules_broken(doc)


def test_trust_policy_over_2048_characters(doc):
    role = one(doc, "aws_iam_role")
    trust = json.loads(role["assume_role_policy"])
    trust["Statement"][0]["Condition"] = {"StringLike": {"aws:PrincipalTag/x": ["v" * 50] * 45}}
    role["assume_role_policy"] = json.dumps(trust)
    assert "iam-trust-policy-size" in rules_broken(doc)


def test_session_policy_over_2048_characters(doc):
    env = access_function(doc)["environment"]["variables"]
    env["DB_RESOURCE_IDS"] = "prx-" + "0" * 2100  # an ARN in the session policy as long as that
    assert "session-policy-and-tags" in rules_broken(doc)


def test_session_tags_out_of_bounds(doc, monkeypatch):
    monkeypatch.setattr(preflight, "session_tags", lambda tenant: [{"Key": "t", "Value": "a;b"}] * 51)
    broken = check_stack(MAIN_STACK, doc, FACTS).findings
    messages = [f.message for f in broken if f.rule == "session-policy-and-tags"]
    assert any("session tags per AssumeRole: 51 > 50" in m for m in messages)
    assert any("characters a tag may not hold" in m for m in messages)


def test_lambda_environment_over_4_kb(doc):
    access_function(doc)["environment"]["variables"]["PADDING"] = "x" * 3700
    assert "lambda-environment-size" in rules_broken(doc)


def test_user_data_over_16_kb_raw(doc):
    instance = one(doc, "aws_instance")
    instance["user_data_base64"] = base64.b64encode(os.urandom(16_385)).decode()  # random: gzip cannot help
    assert "ec2-user-data-size" in rules_broken(doc)


def test_launch_template_user_data_over_16_kb_raw(doc):
    template = one(doc, "aws_launch_template")
    template["user_data"] = base64.b64encode(b"#" * 16_385).decode()
    assert "ec2-user-data-size" in rules_broken(doc)


def test_more_than_60_rules_in_one_security_group(doc):
    rules = resources(doc, "aws_vpc_security_group_ingress_rule")
    name, rule = next(iter(rules.items()))
    for index in range(60):
        rules[f"{name}_{index}"] = {**rule, "from_port": 1000 + index, "to_port": 1000 + index}
    assert "security-group-rules" in rules_broken(doc)


def test_api_resource_policy_and_stage_variables_over_their_limits(doc):
    policy = one(doc, "aws_api_gateway_rest_api_policy")
    document = json.loads(policy["policy"])
    document["Statement"][0]["Sid"] = "x" * 8200
    policy["policy"] = json.dumps(document)
    assert "api-limits" in rules_broken(doc)
    doc = copy.deepcopy(doc)
    policy["policy"] = json.dumps({**document, "Statement": document["Statement"][1:]})
    one(doc, "aws_api_gateway_stage")["variables"]["function"] = "f" * 513
    assert "api-limits" in rules_broken(doc)


@pytest.mark.parametrize("shape", ["widgets", "metrics_per_widget", "metrics"])
def test_dashboard_over_cloudwatch_quotas(doc, shape):
    dashboard = one(doc, "aws_cloudwatch_dashboard")
    body = json.loads(dashboard["dashboard_body"])
    widget = body["widgets"][0]
    metric = widget["properties"]["metrics"][0]
    if shape == "widgets":
        body["widgets"] = [widget] * 501
    elif shape == "metrics_per_widget":
        widget["properties"]["metrics"] = [metric] * 501
    else:
        widget["properties"]["metrics"] = [metric] * 400
        body["widgets"] = [widget] * 7
    dashboard["dashboard_body"] = json.dumps(body)
    assert "dashboard-limits" in rules_broken(doc)


def test_proxies_above_the_quota_and_secrets_above_200_per_proxy(doc):
    assert "rds-proxy-quotas" in rules_broken(doc, AccountFacts(today=FACTS.today, rds_proxy_quota=0))
    proxy = one(doc, "aws_db_proxy")
    proxy["auth"].append(proxy["auth"][0])
    assert "rds-proxy-quotas" in rules_broken(doc)


# ---- names ------------------------------------------------------------------------------------------

BAD_NAMES = [
    ("aws_db_proxy", "name", "tenantdb--proxy-0"),
    ("aws_db_proxy", "name", "0proxy"),
    ("aws_db_proxy_endpoint", "db_proxy_endpoint_name", "reader-"),
    ("aws_rds_cluster", "cluster_identifier", "c" * 64),
    ("aws_rds_cluster_instance", "identifier", "writer_1"),
    ("aws_secretsmanager_secret", "name", "tenants/with space"),
    ("aws_cloudwatch_log_group", "name", "/aws/lambda/f!"),
    ("aws_s3_bucket", "bucket_prefix", "Reports-"),
    ("aws_s3_bucket", "bucket_prefix", "r" * 38),
    ("aws_lambda_function", "function_name", "f" * 65),
    ("aws_iam_role", "name", "r" * 65),
    ("aws_iam_role_policy", "name", "policy with spaces"),
]


@pytest.mark.parametrize(("type_", "attribute", "value"), BAD_NAMES, ids=lambda v: str(v)[:30])
def test_names_aws_refuses(doc, type_, attribute, value):
    body = one(doc, type_, lambda name, body: attribute in body)
    body[attribute] = value
    assert "names" in rules_broken(doc)


def test_state_bucket_names_aws_refuses(default_synth):
    from tests.support.synth import BOOTSTRAP_STACK

    doc = copy.deepcopy(default_synth.stack(BOOTSTRAP_STACK).doc)
    one(doc, "aws_s3_bucket")["bucket"] = "tenantdb..tfstate"
    assert "names" in {f.rule for f in check_stack(BOOTSTRAP_STACK, doc, FACTS).findings}


# ---- ordering ---------------------------------------------------------------------------------------


def test_proxy_target_that_does_not_wait_for_the_instances(doc):
    target = one(doc, "aws_db_proxy_target")
    target["depends_on"] = [d for d in target["depends_on"] if "reader_2" not in d]
    assert "order-proxy-targets" in rules_broken(doc)


def test_proxy_target_naming_the_default_group_as_a_literal(doc):
    one(doc, "aws_db_proxy_target")["target_group_name"] = "default"
    assert "order-proxy-targets" in rules_broken(doc)


@pytest.mark.parametrize("dropped", ["aws_vpc_endpoint.", "aws_secretsmanager_secret.", "fill-tenant-secrets"])
def test_seeding_that_does_not_wait_for_what_it_uses(doc, dropped):
    invocation = one(doc, "aws_lambda_invocation", lambda name, body: name.startswith("proxy_seeding"))
    before = len(invocation["depends_on"])
    for type_ in ("aws_lambda_invocation", "aws_lambda_function"):  # not directly, nor through the function
        for body in resources(doc, type_).values():
            body["depends_on"] = [d for d in body.get("depends_on", []) if dropped not in d]
    assert len(invocation["depends_on"]) < before
    assert "order-seeding" in rules_broken(doc)


def test_function_created_before_its_role_may_create_network_interfaces(doc):
    access_function(doc)["depends_on"] = []
    assert "order-roles-before-use" in rules_broken(doc)


def test_spot_fleet_without_the_spot_service_linked_roles(doc):
    fleet = one(doc, "aws_spot_fleet_request")
    fleet["depends_on"] = [d for d in fleet["depends_on"] if "service_linked" not in d and "service_role" not in d]
    assert "order-roles-before-use" in rules_broken(doc)
    assert "order-roles-before-use" not in rules_broken(
        doc, AccountFacts(today=FACTS.today, spot_service_linked_roles_exist=True)
    )


# ---- rules ------------------------------------------------------------------------------------------


def test_proxy_endpoint_verified_against_the_rds_ca(doc):
    access_function(doc)["environment"]["variables"]["CA_BUNDLE"] = RDS_CA_FILE
    assert "tls-per-endpoint-kind" in rules_broken(doc)


def test_custom_proxy_endpoint_verified_by_its_own_name(doc, monkeypatch):
    """The mutation of item 1 of the first-deploy issue: checking the endpoint's own name would fail on AWS."""
    monkeypatch.setattr(preflight, "tls_server_name", lambda host: host)
    assert "tls-per-endpoint-kind" in rules_broken(doc)


def test_source_conditions_on_a_service_that_does_not_send_them(doc):
    role = one(doc, "aws_iam_role", lambda name, body: "lambda.amazonaws.com" in body["assume_role_policy"])
    trust = json.loads(role["assume_role_policy"])
    trust["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    role["assume_role_policy"] = json.dumps(trust)
    assert "trust-source-conditions" in rules_broken(doc)


def test_engine_version_past_its_end_of_support(doc):
    assert "aurora-engine-version" in rules_broken(doc, AccountFacts(today=datetime.date(2028, 5, 1)))
    one(doc, "aws_rds_cluster")["engine_version"] = "8.0.mysql_aurora.3.08.2"
    assert "aurora-engine-version" in rules_broken(doc)


def test_engine_version_not_in_the_calendar_or_upgrading_itself(doc):
    one(doc, "aws_rds_cluster")["engine_version"] = "8.0.mysql_aurora.3.99.0"
    assert "aurora-engine-version" in rules_broken(doc)
    doc["resource"]["aws_rds_cluster"] = copy.deepcopy(resources(doc, "aws_rds_cluster"))
    for body in resources(doc, "aws_rds_cluster").values():
        body["engine_version"] = "8.0.mysql_aurora.3.10.5"
    one(doc, "aws_rds_cluster_instance")["auto_minor_version_upgrade"] = True
    assert "aurora-engine-version" in rules_broken(doc)


def test_a_lambda_runtime_past_its_block_create_date_or_unknown(doc):
    python = aws_rules.LAMBDA_RUNTIME_SCHEDULE[one(doc, "aws_lambda_function")["runtime"]]
    assert "lambda-runtime" not in rules_broken(doc, AccountFacts(today=python.block_create - datetime.timedelta(1)))
    assert "lambda-runtime" in rules_broken(doc, AccountFacts(today=python.block_create))
    one(doc, "aws_lambda_function")["runtime"] = "nodejs16.x"
    assert "lambda-runtime" in rules_broken(doc)


def test_reserved_concurrency_that_eats_the_unreserved_floor(doc):
    for side in ("proxy", "no_proxy"):
        access_function(doc, side)["reserved_concurrent_executions"] = 450
    assert "lambda-reserved-concurrency" not in rules_broken(doc)  # 900 of 1000: the floor of 100 is left
    access_function(doc)["reserved_concurrent_executions"] = 451
    assert "lambda-reserved-concurrency" in rules_broken(doc)


def test_an_expression_the_gate_cannot_evaluate_is_a_finding_not_a_guess(doc):
    access_function(doc)["environment"]["variables"]["X"] = "${aws_vpc.unknown.id}"
    assert any("cannot evaluate" in f.message for f in check_stack(MAIN_STACK, doc, FACTS).findings)


def test_vpc_endpoint_policy_over_20480_characters(doc):
    policy = one(doc, "aws_vpc_endpoint_policy")
    document = json.loads(policy["policy"])
    document["Statement"][0]["Sid"] = "x" * 20_500
    policy["policy"] = json.dumps(document)
    assert "endpoint-policy-size" in rules_broken(doc)
