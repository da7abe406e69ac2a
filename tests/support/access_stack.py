"""Reading the tenant access path out of a synthesized stack, the way the access function sees it."""

from __future__ import annotations

import json

from constructs_lib.function_contract import AccessConfig, session_policy
from constructs_lib.tenancy import all_tenants, shard_tenant_ids
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


def config_of(stack, side) -> AccessConfig:
    return AccessConfig.from_environment(access_function(stack, side).body["environment"]["variables"])


def db_users(stack, side) -> list[str]:
    """Every tenant DB user ARN the side's function can name: each tenant on its shard's target."""
    config = config_of(stack, side)
    return [config.target_of(tenant).db_user_arn(tenant) for tenant in all_tenants(config.tenant_count)]


def role_grant(stack, role, tag_value: str) -> set[str]:
    """The resource patterns a session of ``role`` tagged ``tag_value`` may rds-db:connect to (role alone)."""
    variables = {"aws:PrincipalTag/tenant": tag_value}
    return set().union(
        *(iam.allowed_resources(doc, "rds-db:connect", variables) for doc in inline_policies(stack, role))
    )


def effective_connect(stack, side, tenant, candidates=None):
    """The tenant DB users tenant N's session may connect as: its role's grant (tag = N) within its session policy."""
    target = config_of(stack, side).target_of(tenant)
    role = role_for(stack, target)
    granted = role_grant(stack, role, str(tenant.id))
    session = iam.allowed_resources(json.loads(session_policy(tenant, target)), "rds-db:connect")
    candidates = db_users(stack, side) if candidates is None else candidates
    reach = {arn for arn in candidates if iam.resource_allowed(granted, arn) and iam.resource_allowed(session, arn)}
    return role, target, reach


# ---- tenant-access roles pinned exactly, and their reach under adversarial tags ---------------------


def tenant_access_roles(stack, side):
    """(shard, role, target) for every tenant-access role of a side."""
    config = config_of(stack, side)
    return [(shard, role_for(stack, target), target) for shard, target in enumerate(config.targets)]


def assert_tenant_access_roles_pinned(stack, side):
    """One permission statement, exactly these trust conditions, no attachment: nothing else."""
    function_role = access_function(stack, side).body["role"]
    config = config_of(stack, side)
    roles = tenant_access_roles(stack, side)
    assert len(roles) == config.shard_count
    for shard, role, target in roles:
        [trust] = iam.document(role.body["assume_role_policy"])["Statement"]
        assert trust == {
            "Sid": "OnlyTheAccessFunctionForOneTaggedTenant",
            "Effect": "Allow",
            "Principal": {"AWS": function_role},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "ArnEquals": {"aws:PrincipalArn": function_role},
                "Null": {"aws:RequestTag/tenant": "false"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["tenant"]},
                "StringEquals": {"aws:RequestTag/tenant": shard_tenant_ids(shard)},
            },
        }, role.address
        [permission] = inline_policies(stack, role)
        assert permission["Statement"] == [
            {
                "Sid": "ConnectAsTheTaggedTenantOnly",
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "Resource": f"{config.db_user_arn_prefix}{target.resource_id}/user${{aws:PrincipalTag/tenant}}",
            }
        ], role.address
        attached = [a for a in stack.resources("aws_iam_role_policy_attachment") if a.body["role"] == role.ref("name")]
        assert not attached and role.body["max_session_duration"] == 3600


# Tag values a compromised access function might send: not canonical ids of the role's shard.
ADVERSARIAL_TAGS = [
    "",
    "01",
    "007",
    "1.0",
    "1e1",
    "+1",
    "-1",
    " 0",
    "0 ",
    "20 ",
    "1 0",
    "\u0661",
    "\u0660",
    "\uff11",
    "1\u00a0",
    "abc",
    "99999",
    "4294967296",
]


def mysql_user(name: str) -> str:
    """How MySQL compares user names (binary collation with PAD SPACE): trailing spaces do not count."""
    return name.rstrip(" ")


def reached_tenants(stack, side, grant: set[str]):
    """The existing tenants a grant lets a session connect as, on any of the side's targets."""
    config = config_of(stack, side)
    reached = set()
    for tenant in all_tenants(config.tenant_count):
        for target in {t.resource_id: t for t in config.targets}.values():
            arn = target.db_user_arn(tenant)
            for pattern in grant:
                resource, _, user = pattern.rpartition("/")
                if iam.resource_allowed({pattern}, arn) or (
                    resource == arn.rpartition("/")[0] and mysql_user(user) == tenant.db_user
                ):
                    reached.add(tenant)
    return reached


def assert_reach_within_own_shard(stack, side):
    """Whatever tag a compromised function sends, a tenant-access role reaches its own shard's tenants only."""
    function_role = access_function(stack, side).body["role"]
    config = config_of(stack, side)
    for shard, role, _ in tenant_access_roles(stack, side):
        trust = iam.document(role.body["assume_role_policy"])
        others = [str(i) for i in range(0, config.shard_count * 200, 97) if i // 200 != shard]
        for value in [*ADVERSARIAL_TAGS, *others, *shard_tenant_ids(shard)[::37]]:
            context = {"aws:PrincipalArn": function_role, "aws:TagKeys": ["tenant"], "aws:RequestTag/tenant": value}
            if not iam.trust_allows(trust, "sts:AssumeRole", function_role, context):
                continue
            assert value in shard_tenant_ids(shard), (role.address, value)  # canonical ids of its shard only
            reached = reached_tenants(stack, side, role_grant(stack, role, value))
            assert all(tenant.shard == shard for tenant in reached), (role.address, value, reached)
