"""A reviewer's summary of ``terraform show -json`` plans: what each stack adds, changes and destroys.

    python -m constructs_lib.workflow.plan_summary [--stack NAME] plan.json [...]   (make plan runs it)

What a reviewer must not miss comes first: destroys and replacements of stateful resources
(databases, proxies, secrets, keys, buckets, tables), then every change to IAM (roles, their trust,
policies) and to resource policies, each with its address, then re-seeding (the seeding function's
invocation runs again). Then counts per type, and the address of every change. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

STATEFUL = {
    "aws_rds_cluster": "Aurora cluster",
    "aws_rds_cluster_instance": "Aurora instance",
    "aws_db_proxy": "RDS Proxy",
    "aws_db_proxy_endpoint": "RDS Proxy endpoint",
    "aws_secretsmanager_secret": "secret",
    "aws_kms_key": "KMS key",
    "aws_s3_bucket": "S3 bucket",
    "aws_dynamodb_table": "DynamoDB table",
}
# Who may do what: besides every aws_iam_* resource, the resource policies the stacks write.
RESOURCE_POLICIES = {
    "aws_lambda_permission": "who may invoke a function",
    "aws_api_gateway_rest_api_policy": "who may call the API",
    "aws_vpc_endpoint_policy": "what passes a VPC endpoint",
    "aws_s3_bucket_policy": "who may use a bucket",
    "aws_secretsmanager_secret_policy": "who may read a secret",
}
POLICY_ATTRIBUTES = {"assume_role_policy": "trust policy", "policy": "policy", "inline_policy": "inline policies"}
SEEDING = "aws_lambda_invocation"
KINDS = ("add", "change", "destroy", "replace")


class PlanError(ValueError):
    """A file that is not a plan in JSON, said so that the reader knows what to run instead."""


def kind(actions: list[str]) -> str | None:
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    return {("create",): "add", ("update",): "change", ("delete",): "destroy"}.get(tuple(actions))


def changed_attributes(change: dict) -> list[str]:
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    return sorted(k for k in set(before) | set(after) | set(unknown) if before.get(k) != after.get(k) or k in unknown)


def _iam_line(what: str, change: dict) -> str:
    type_, body = change["type"], change["change"]
    role = RESOURCE_POLICIES.get(type_, type_.removeprefix("aws_iam_").replace("_", " "))
    line = f"- **{what}** `{change['address']}` ({role})"
    if what == "change":
        attributes = [POLICY_ATTRIBUTES.get(a, a) for a in changed_attributes(body)]
        line += ": " + ", ".join(attributes)
    return line


def summarize(plan: dict, stack: str) -> str:
    counts: dict[str, Counter] = defaultdict(Counter)
    every: dict[str, list[str]] = defaultdict(list)
    alarms, iam, seeding = [], [], []
    for change in plan.get("resource_changes", []):
        if change.get("mode") != "managed":
            continue
        what = kind(change["change"]["actions"])
        if what is None:
            continue
        type_, address = change["type"], change["address"]
        counts[type_][what] += 1
        every[what].append(address)
        if what in ("destroy", "replace") and type_ in STATEFUL:
            alarms.append(f"- **{what}** `{address}` ({STATEFUL[type_]})")
        if type_.startswith("aws_iam_") or type_ in RESOURCE_POLICIES:
            iam.append(_iam_line(what, change))
        if type_ == SEEDING:
            seeding.append(f"- **{what}** `{address}`: the seeding function runs on apply")
    totals = Counter()
    for per_type in counts.values():
        totals.update(per_type)
    lines = [f"### Terraform plan: `{stack}`", ""]
    if alarms:
        lines += ["> [!WARNING]", "> **Destroys or replaces stateful resources:**", *[f"> {a}" for a in alarms], ""]
    if not counts:
        lines.append("No changes.")
        return "\n".join(lines) + "\n"
    lines += [
        f"**{totals['add']} to add, {totals['change']} to change, {totals['destroy']} to destroy, "
        f"{totals['replace']} to replace**",
        "",
    ]
    if iam:
        lines += [f"#### IAM and resource policies: {len(iam)} changes", "", *iam, ""]
    if seeding:
        lines += [f"#### Seeding: {len(seeding)}", "", *seeding, ""]
    lines += [
        "| resource type | " + " | ".join(KINDS) + " |",
        "| --- | " + " | ".join("---:" for _ in KINDS) + " |",
    ]
    for type_ in sorted(counts):
        lines.append(f"| `{type_}` | " + " | ".join(str(counts[type_][k] or "") for k in KINDS) + " |")
    lines += ["", f"<details><summary>Every change ({sum(totals.values())})</summary>", ""]
    for what in KINDS:
        lines += [f"- **{what}** `{address}`" for address in sorted(every[what])]
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def read_plan(path: Path) -> dict:
    """The plan in ``path``, or a PlanError saying what the file is and what to run instead."""
    if not path.is_file():
        raise PlanError(f"{path}: no such file. `make plan` writes cdktf.out/stacks/<stack>/plan.json")
    data = path.read_bytes()
    if data.startswith(b"PK"):
        raise PlanError(
            f"{path} is a binary Terraform plan (what `cdktf diff` and `terraform plan -out` write), not JSON: "
            f"`make plan` writes plan.json next to it, or run `terraform show -json {path.name} > plan.json` "
            "in its stack folder"
        )
    try:
        plan = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanError(f"{path} is not a plan in JSON ({error}): `make plan` writes one per stack") from None
    if not isinstance(plan, dict) or ("format_version" not in plan and "resource_changes" not in plan):
        raise PlanError(f"{path} is JSON but not `terraform show -json` output of a plan")
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", help="stack name per plan file (default: the file's folder)")
    parser.add_argument("plans", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if not args.plans:
        print("error: no plan given. `make plan` plans every stack and summarizes the plans.", file=sys.stderr)
        return 2
    names = args.stack or [path.resolve().parent.name for path in args.plans]
    if len(names) != len(args.plans):
        print("error: give one --stack per plan file, or none", file=sys.stderr)
        return 2
    try:
        plans = [read_plan(path) for path in args.plans]
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name, plan in zip(names, plans, strict=True):
        sys.stdout.write(summarize(plan, name) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
