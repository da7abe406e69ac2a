"""Reading the tenant access path out of a synthesized stack, the way the access function sees it."""

from __future__ import annotations

import json

from constructs_lib.function_contract import AccessConfig, session_policy
from tests.support import iam


def access_function(stack, side):
    [function] = [r for r in stack.under(f"{side}/access") if r.type == "aws_lambda_function"]
    return function


def role_named(stack, name):
    [role] = [r for r in stack.resources("aws_iam_role") if r.body["name"] == name]
    return role


def inline_policies(stack, role):
    return [
        iam.document(p.body["policy"])
        for p in stack.resources("aws_iam_role_policy")
        if p.body["role"] == role.ref("id")
    ]


def targets_of(stack, side):
    """The shard targets the function builds from its environment, as the Lambda code does."""
    return AccessConfig.from_environment(access_function(stack, side).body["environment"]["variables"]).targets


def role_for(stack, target):
    name = target.role_arn.rsplit("role/", 1)[1]
    return role_named(stack, name)


def effective_connect(stack, side, tenant):
    """What tenant N's session may rds-db:connect to: its role's grant (tag = N) within its session policy."""
    targets = targets_of(stack, side)
    target = targets[tenant.shard] if len(targets) > 1 else targets[0]
    role = role_for(stack, target)
    variables = {"aws:PrincipalTag/tenant": str(tenant.id)}
    granted = set().union(
        *(iam.allowed_resources(doc, "rds-db:connect", variables) for doc in inline_policies(stack, role))
    )
    session = iam.allowed_resources(json.loads(session_policy(tenant, target)), "rds-db:connect")
    return role, target, granted & session
