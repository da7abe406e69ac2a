"""Least-privilege IAM building blocks shared by the constructs."""

from __future__ import annotations

from collections.abc import Mapping

from constructs import Construct

from constructs_lib.aws import IamRole, IamRolePolicy
from constructs_lib.platform import AwsStack, policy_json


def service_role(
    scope: Construct,
    id: str,
    *,
    name: str,
    service: str,
    source_arn: str,
    policies: Mapping[str, str],
) -> IamRole:
    """A role only ``service`` may assume, and only on behalf of ``source_arn`` in this account.

    The ``aws:SourceAccount``/``aws:SourceArn`` conditions stop the confused-deputy problem: another
    account's resource cannot make the service use this role.
    """
    stack = AwsStack.of(scope)
    trust = policy_json(
        {
            "Effect": "Allow",
            "Principal": {"Service": f"{service}.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": stack.account_id},
                "ArnLike": {"aws:SourceArn": source_arn},
            },
        }
    )
    role = IamRole(scope, id, name=name, assume_role_policy=trust)
    for policy_name, document in policies.items():
        IamRolePolicy(scope, f"{id}_{policy_name}", role=role.id, name=policy_name, policy=document)
    return role
