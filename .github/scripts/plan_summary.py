"""A reviewer's summary of `terraform show -json` plans: what each stack adds, changes and destroys.

    python .github/scripts/plan_summary.py [--stack NAME] plan.json [...]   (or: make plan-summary)

Destroys and replacements of stateful resources (databases, proxies, secrets, keys, buckets,
tables) are called out first, since they lose data or break tenants. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
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
KINDS = ("add", "change", "destroy", "replace")


def kind(actions: list[str]) -> str | None:
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    return {("create",): "add", ("update",): "change", ("delete",): "destroy"}.get(tuple(actions))


def summarize(plan: dict, stack: str) -> str:
    counts: dict[str, Counter] = defaultdict(Counter)
    alarms = []
    for change in plan.get("resource_changes", []):
        if change.get("mode") != "managed":
            continue
        what = kind(change["change"]["actions"])
        if what is None:
            continue
        counts[change["type"]][what] += 1
        if what in ("destroy", "replace") and change["type"] in STATEFUL:
            alarms.append(f"- **{what}** `{change['address']}` ({STATEFUL[change['type']]})")
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
        "| resource type | " + " | ".join(KINDS) + " |",
        "| --- | " + " | ".join("---:" for _ in KINDS) + " |",
    ]
    for type_ in sorted(counts):
        lines.append(f"| `{type_}` | " + " | ".join(str(counts[type_][k] or "") for k in KINDS) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", help="stack name per plan file (default: the file's folder)")
    parser.add_argument("plans", nargs="+", type=Path)
    args = parser.parse_args(argv)
    names = args.stack or [path.parent.name for path in args.plans]
    if len(names) != len(args.plans):
        parser.error("give one --stack per plan file, or none")
    for name, path in zip(names, args.plans, strict=True):
        sys.stdout.write(summarize(json.loads(path.read_text()), name) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
