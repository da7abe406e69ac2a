"""Least-privilege IAM building blocks shared by the constructs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cdktf import TerraformResource
from constructs import Construct, Node

from constructs_lib.aws import IamRole, IamRolePolicy, IamRolePolicyAttachment
from constructs_lib.aws_rules import SOURCE_CONDITIONS_DOCUMENTED
from constructs_lib.platform import AwsStack, add_dependency
from constructs_lib.policy import Statement, document


class Grantee(Protocol):
    """What intent-level grants (``grant_connect``, ``grant_assume``, ...) give permissions to: a
    construct (grants find the stack through its node) whose role takes policies."""

    @property
    def node(self) -> Node: ...

    def add_policy(self, name: str, *statements: Statement) -> IamRolePolicy: ...


@dataclass
class ServiceRole:
    """A role a service assumes, and the grants that give it its permissions.

    A service may check its role's permissions when the resource that uses it is created (Lambda
    checks it may create network interfaces, API Gateway that it may write logs), so whatever hands
    the role to a service waits for ``grants`` (``used_by``).
    """

    role: IamRole
    grants: list[TerraformResource] = field(default_factory=list)
    _users: list[TerraformResource] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return self.role.arn

    @property
    def name(self) -> str:
        return self.role.name

    def used_by(self, *resources: TerraformResource) -> None:
        """``resources`` hand this role to a service: they wait for every grant, also later ones."""
        self._users.extend(resources)
        for resource in resources:
            add_dependency(resource, *self.grants)

    def add_policy(self, scope: Construct, id: str, name: str, *statements: Statement) -> IamRolePolicy:
        policy = IamRolePolicy(scope, id, role=self.role.id, name=name, policy=document(*statements))
        self.grants.append(policy)
        for user in self._users:
            add_dependency(user, policy)
        return policy


def service_role(
    scope: Construct,
    id: str,
    *,
    name: str,
    service: str,
    policies: Mapping[str, Sequence[Statement]],
    source_arn: str | None = None,
    managed_policies: Sequence[str] = (),
) -> ServiceRole:
    """A role only ``service`` may assume.

    The confused-deputy conditions ``aws:SourceAccount`` (and ``aws:SourceArn``, ``source_arn``) are
    added only for services AWS documents as sending them when they assume a role
    (``aws_rules.SOURCE_CONDITIONS_DOCUMENTED``, each with its page): elsewhere the keys are absent from
    the request and the condition would make the role unusable. ``managed_policies`` names AWS
    managed policies by path, e.g. "service-role/X".
    """
    stack = AwsStack.of(scope)
    conditions: dict[str, dict[str, object]] = {}
    if service in SOURCE_CONDITIONS_DOCUMENTED:
        conditions["StringEquals"] = {"aws:SourceAccount": stack.account_id}
        if source_arn:
            conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    elif source_arn:
        raise ValueError(f"{service} is not documented to send aws:SourceArn when it assumes a role")
    trust = Statement(
        principal={"Service": f"{service}.amazonaws.com"}, actions="sts:AssumeRole", conditions=conditions
    )
    role = ServiceRole(IamRole(scope, id, name=name, assume_role_policy=document(trust)))
    for managed in managed_policies:
        role.grants.append(
            IamRolePolicyAttachment(
                scope,
                f"{id}_{managed.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=f"arn:{stack.partition}:iam::aws:policy/{managed}",
            )
        )
    for policy_name, statements in policies.items():
        role.add_policy(scope, f"{id}_{policy_name}", policy_name, *statements)
    return role
