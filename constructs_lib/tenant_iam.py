"""Tenant IAM: the role the access function assumes *for one tenant at a time* (attribute-based).

Design: one tenant-access role per shard of 200 tenants on each side (grants on the shard's proxy,
or on the No Proxy cluster), not one role per tenant: IAM's default quota of 1,000 roles per
account would cap per-tenant roles far below the tenant counts sharding allows. Isolation comes
from three layers:

1. Trust: only the access function's execution role may assume it (``aws:PrincipalArn``), only
   with the session tag ``tenant`` and no other tag (``aws:RequestTag``, ``aws:TagKeys``), and only
   with a tag value that is one of its shard's tenant ids, exactly (``tenancy.shard_tenant_ids``).
2. Permission: ``rds-db:connect`` on ``user${aws:PrincipalTag/tenant}`` of this shard's proxy (or
   this cluster) only: a session tagged 7 can connect as ``user7`` and nobody else.
3. The inline session policy the function passes names ``user{N}`` alone (defence in depth).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from constructs_lib.aws import IamRole, IamRolePolicy
from constructs_lib.iam import Grantee
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement, document, policy_variable
from constructs_lib.tenancy import (
    DB_USER_PREFIX,
    SESSION_SECONDS,
    TENANT_TAG,
    db_user_arn,
    db_user_arn_prefix,
    shard_tenant_ids,
)

# The DB user a tenant-tagged session stands for.
TAGGED_TENANT_DB_USER = f"{DB_USER_PREFIX}{policy_variable(f'aws:PrincipalTag/{TENANT_TAG}')}"


@dataclass(frozen=True)
class TenantAccessRoleProps:
    name: str
    caller_role_arn: str
    shard: int  # the role admits this shard's tenant ids, exactly (tenancy.shard_tenant_ids)


class TenantAccessRole(Construct):
    def __init__(self, scope: Construct, id: str, props: TenantAccessRoleProps) -> None:
        super().__init__(scope, id)
        trust = Statement(
            sid="OnlyTheAccessFunctionForOneTaggedTenant",
            principal={"AWS": props.caller_role_arn},
            actions=["sts:AssumeRole", "sts:TagSession"],
            conditions={
                "ArnEquals": {"aws:PrincipalArn": props.caller_role_arn},
                "Null": {f"aws:RequestTag/{TENANT_TAG}": "false"},
                "ForAllValues:StringEquals": {"aws:TagKeys": [TENANT_TAG]},
                "StringEquals": {f"aws:RequestTag/{TENANT_TAG}": shard_tenant_ids(props.shard)},
            },
        )
        self.role = IamRole(
            self, "role", name=props.name, max_session_duration=SESSION_SECONDS, assume_role_policy=document(trust)
        )
        self.props = props

    def grant_connect_as_tagged_tenant(self, resource_id: str) -> None:
        """Allow ``rds-db:connect`` as the session's own tenant user on one proxy or cluster."""
        stack = AwsStack.of(self)
        prefix = db_user_arn_prefix(partition=stack.partition, region=stack.region, account=stack.account_id)
        IamRolePolicy(
            self,
            "connect",
            role=self.role.id,
            name="connect-as-tagged-tenant",
            policy=document(
                Statement(
                    sid="ConnectAsTheTaggedTenantOnly",
                    actions="rds-db:connect",
                    resources=db_user_arn(prefix, resource_id, TAGGED_TENANT_DB_USER),
                )
            ),
        )

    def grant_assume(self, grantee: Grantee) -> None:
        """Let the access function assume this role (with session tags)."""
        grantee.add_policy(
            f"assume-{self.props.name}",
            Statement(
                sid="AssumeTenantAccessRole", actions=["sts:AssumeRole", "sts:TagSession"], resources=self.role.arn
            ),
        )
