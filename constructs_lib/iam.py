"""Least-privilege IAM building blocks shared by the constructs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from constructs import Construct

from constructs_lib.aws import IamRole, IamRolePolicy, IamRolePolicyAttachment
from constructs_lib.platform import AwsStack, policy_json


def service_role(
    scope: Construct,
    id: str,
    *,
    name: str,
    service: str,
    policies: Mapping[str, str],
    source_arn: str | None = None,
    managed_policies: Sequence[str] = (),
) -> IamRole:
    """A role only ``service`` may assume, and only on behalf of this account's resources.

    The confused-deputy conditions stop another account's resource from making the service use
    this role: ``aws:SourceAccount`` always, ``aws:SourceArn`` where the service sends it
    (``source_arn``; Lambda and RDS Proxy do not document it for role assumption).
    ``managed_policies`` names AWS managed policies by path, e.g. "service-role/X".
    """
    stack = AwsStack.of(scope)
    condition: dict[str, dict[str, str]] = {"StringEquals": {"aws:SourceAccount": stack.account_id}}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    trust = policy_json(
        {
            "Effect": "Allow",
            "Principal": {"Service": f"{service}.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }
    )
    role = IamRole(scope, id, name=name, assume_role_policy=trust)
    for managed in managed_policies:
        IamRolePolicyAttachment(
            scope,
            f"{id}_{managed.rsplit('/', 1)[-1]}",
            role=role.name,
            policy_arn=f"arn:{stack.partition}:iam::aws:policy/{managed}",
        )
    for policy_name, document in policies.items():
        IamRolePolicy(scope, f"{id}_{policy_name}", role=role.id, name=policy_name, policy=document)
    return role
