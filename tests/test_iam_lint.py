"""Every IAM policy document the stacks create passes parliament (an offline IAM linter)."""

from __future__ import annotations

import json
import re
import warnings

import pytest

from tests.support import iam
from tests.support.paths import ROOT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament still imports the deprecated pkg_resources
    from parliament import analyze_policy_string

BASELINE = json.loads((ROOT / "tests" / "iam_lint_baseline.json").read_text())["accepted"]
# Terraform values stand in as what they resolve to on AWS; IAM's own ${aws:...} variables stay.
TERRAFORM_VALUES = [
    (re.compile(r"\$\{data\.aws_partition\.[^}]+\}"), "aws"),
    (re.compile(r"\$\{data\.aws_region\.[^}]+\}"), "us-east-1"),
    (re.compile(r"\$\{data\.aws_caller_identity\.[^}]+\}"), "123456789012"),
    (re.compile(r"\$\{data\.aws_partition\.[^}]*dns_suffix\}"), "amazonaws.com"),
    (re.compile(r"\$\{aws_kms_key\.[^}]+\.arn\}"), "arn:aws:kms:us-east-1:123456789012:key/0123abcd"),
    (re.compile(r"\$\{aws_cloudwatch_log_group\.[^}]+\.arn\}"), "arn:aws:logs:us-east-1:123456789012:log-group:lg"),
    (
        re.compile(r"\$\{aws_rds_cluster\.[^}]+\.secret_arn\}"),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0123-AbCdEf",
    ),
    (re.compile(r"\$\{aws_iam_role\.[^}]+\.arn\}"), "arn:aws:iam::123456789012:role/example"),
    (
        re.compile(r"\$\{aws_secretsmanager_secret\.[^}]+\.arn\}"),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:example-AbCdEf",
    ),
    (re.compile(r"\$\{aws_s3_bucket\.[^}]+\.arn\}"), "arn:aws:s3:::example-bucket"),
    (re.compile(r"\$\{(?!aws:)[^}]+\}"), "example-0123"),
]
DATA_PLANE = re.compile(
    r"^(secretsmanager:(Get|Put)SecretValue|kms:(Decrypt|Encrypt|GenerateDataKey)|rds-db:connect|"
    r"s3:(Get|Put)Object|sts:AssumeRole)"
)


def resolved(text: str) -> str:
    text = text.replace("$${", "\x00")
    for pattern, value in TERRAFORM_VALUES:
        text = pattern.sub(value, text)
    return text.replace("\x00", "${")


def identity_policies(stack):
    for policy in stack.resources("aws_iam_role_policy"):
        yield f"{policy.address} ({policy.body['name']})", resolved(policy.body["policy"])


@pytest.mark.parametrize("variant", ["default", "proxy_only"])
def test_identity_policies_pass_parliament(synth_variant, variant):
    findings = []
    checked = 0
    for name in synth_variant(variant).stack_names:
        for where, document in identity_policies(synth_variant(variant).stack(name)):
            checked += 1
            for finding in analyze_policy_string(document).findings:
                entry = {"issue": finding.issue, "policy": where.split(" ")[1].strip("()")}
                if entry not in [{k: b[k] for k in ("issue", "policy")} for b in BASELINE]:
                    findings.append((where, finding.issue, finding.detail))
    assert checked >= 5
    assert not findings


def test_no_data_plane_action_on_every_resource(default_synth):
    for name in default_synth.stack_names:
        for where, document in identity_policies(default_synth.stack(name)):
            for statement in iam.statements(json.loads(document)):
                actions = [a for a in iam.as_list(statement["Action"]) if DATA_PLANE.match(a)]
                if actions:
                    assert "*" not in iam.as_list(statement["Resource"]), (where, actions)


def test_parliament_would_catch_a_wildcard_data_plane_grant():
    bad = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
        }
    )
    assert {f.issue for f in analyze_policy_string(bad).findings} == {"RESOURCE_STAR"}
