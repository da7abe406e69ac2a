"""Deploy, re-plan and destroy for real, against moto's server on 127.0.0.1 (both load-test settings).

Proves the configuration is accepted by the provider and the create / re-plan / destroy cycle works
at the API level. Nothing runs in it: no DNS, no function code, no database, no instances.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields

import pytest

from constructs_lib.emulator import EMULATOR_GAPS, Capabilities
from tests.support import terraform
from tests.support.emulator import start_emulator
from tests.support.paths import ROOT
from tests.support.synth import BOOTSTRAP_STACK, MAIN_STACK, synthesize

pytestmark = pytest.mark.terraform

QUIRKS = json.loads((ROOT / "tests" / "emulator_quirks.json").read_text())["quirks"]
ALLOWED_DRIFT = {(q["type"], q["attribute"]) for q in QUIRKS}
PREFIX = "emulated"
GROWTH_SHARE = {"proxy_max_connections_percent": 45, "proxy_max_idle_connections_percent": 45}
# What growing by one tenant may change in place (besides creating the new shard), as tests/test_scale.py says.
GROWTH_UPDATES = {"aws_lambda_function", "aws_cloudwatch_dashboard", "aws_instance", "aws_launch_template"}
SECRET_PATTERNS = re.compile(r'"(password|secret_string|master_password)"\s*:\s*"[^"]+"|BEGIN [A-Z ]*PRIVATE KEY')


def apply_args():
    return ["-input=false", "-parallelism=20"]


def changed_attributes(change: dict) -> set[str]:
    before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
    return {key for key in set(before) | set(after) if before.get(key) != after.get(key)}


@pytest.fixture(scope="module", params=["proxy_only", "full"])
def lifecycle(request, terraform_config, tmp_path_factory):
    """One whole cycle; the record of each step is what the tests below read."""
    work = tmp_path_factory.mktemp(f"emulated-{request.param}")
    emulator = start_emulator(work)
    try:
        full = request.param == "full"
        # The proxy-only cycle runs at 200 tenants, so it can show what growing to 201 would plan.
        settings = {
            "name_prefix": PREFIX,
            "emulator_endpoint": emulator.url,
            "create_load_test_stack": full,
            "tenant_count": 2 if full else 200,
            **({} if full else GROWTH_SHARE),
        }
        synth = synthesize(work / "out", settings)
        env = emulator.environment

        def tf(stack, *args, timeout=1200):
            return terraform.check(
                terraform.run(list(args), synth.stack(stack).directory, terraform_config, env, timeout=timeout)
            )

        record = {"variant": request.param, "synth": synth, "emulator": emulator, "tf": tf}
        tf(BOOTSTRAP_STACK, "init", "-input=false")
        tf(BOOTSTRAP_STACK, "apply", "-auto-approve", *apply_args())
        tf(MAIN_STACK, "init", "-input=false")
        tf(MAIN_STACK, "plan", "-input=false", "-out=create.plan")
        record["create_plan"] = json.loads(tf(MAIN_STACK, "show", "-json", "create.plan"))
        tf(MAIN_STACK, "apply", "-auto-approve", *apply_args(), "create.plan")
        record["outputs"] = json.loads(tf(MAIN_STACK, "output", "-json"))
        tf(MAIN_STACK, "plan", "-input=false", "-out=replan.plan")
        record["replan"] = json.loads(tf(MAIN_STACK, "show", "-json", "replan.plan"))
        record["state"] = tf(MAIN_STACK, "state", "pull")
        if not full:
            grown = synthesize(work / "grown", {**settings, "tenant_count": 201})
            grown_dir = grown.stack().directory
            for args in (["init", "-input=false"], ["plan", "-input=false", "-lock=false", "-out=grow.plan"]):
                terraform.check(terraform.run(args, grown_dir, terraform_config, env, timeout=1200))
            shown = terraform.run(["show", "-json", "grow.plan"], grown_dir, terraform_config, env)
            record["growth_plan"] = json.loads(terraform.check(shown))
        tf(MAIN_STACK, "destroy", "-auto-approve", *apply_args())
        record["remaining"] = remaining_resources(emulator)
        # The state bucket outlives the main stack on purpose (force_destroy = false), here too.
        yield record
    finally:
        emulator.stop()


def remaining_resources(emulator) -> dict[str, list[str]]:
    """What the deployment's names still show in the emulator after destroy."""
    ec2, rds, lam = emulator.client("ec2"), emulator.client("rds"), emulator.client("lambda")
    tagged = [{"Name": "tag:deployment", "Values": [PREFIX]}]
    return {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged)["Vpcs"]],
        "clusters": [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]],
        "proxies": [p["DBProxyName"] for p in rds.describe_db_proxies()["DBProxies"]],
        "secrets": [
            s["Name"]
            for s in emulator.client("secretsmanager").list_secrets()["SecretList"]
            if s["Name"].startswith(PREFIX)
        ],
        "roles": [
            r["RoleName"] for r in emulator.client("iam").list_roles()["Roles"] if r["RoleName"].startswith(PREFIX)
        ],
        "functions": [f["FunctionName"] for f in lam.list_functions()["Functions"]],
        "apis": [a["name"] for a in emulator.client("apigateway").get_rest_apis()["items"]],
        "instances": [
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=tagged)["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ],
    }


def test_apply_creates_every_resource_of_the_stack(lifecycle):
    stack = lifecycle["synth"].stack()
    planned = [c for c in lifecycle["create_plan"]["resource_changes"] if c["mode"] == "managed"]
    assert all(c["change"]["actions"] == ["create"] for c in planned)
    assert len(planned) == len(stack.resources())
    created = json.loads(lifecycle["state"])["resources"]
    assert len([r for r in created if r["mode"] == "managed"]) == len(stack.resources())


def test_outputs_are_there(lifecycle):
    outputs = lifecycle["outputs"]
    assert outputs["proxy_proxy_names"]["value"] == [f"{PREFIX}-proxy-0"]
    assert outputs["proxy_writer_endpoint"]["value"]
    assert outputs["proxy_access_function_name"]["value"] == f"{PREFIX}-proxy-access"
    if lifecycle["variant"] == "full":
        assert outputs["api_url"]["value"].startswith("https://")
        assert outputs["no_proxy_reader_endpoint"]["value"]
        assert outputs["monitoring_dashboard_name"]["value"]
    else:
        assert "api_url" not in outputs


def test_replan_after_apply_changes_nothing_beyond_listed_emulator_quirks(lifecycle):
    drift = {}
    for change in lifecycle["replan"]["resource_changes"]:
        if change["mode"] != "managed" or change["change"]["actions"] == ["no-op"]:
            continue
        assert change["change"]["actions"] == ["update"], (change["address"], change["change"]["actions"])
        unexplained = {a for a in changed_attributes(change) if (change["type"], a) not in ALLOWED_DRIFT}
        if unexplained:
            drift[change["address"]] = unexplained
    assert not drift


def test_destroy_leaves_nothing_behind(lifecycle):
    assert lifecycle["remaining"] == {key: [] for key in lifecycle["remaining"]}


def test_no_secret_value_in_plans_or_state(lifecycle):
    for text in (json.dumps(lifecycle["create_plan"]), json.dumps(lifecycle["replan"]), lifecycle["state"]):
        assert not SECRET_PATTERNS.search(text)


def test_the_plan_summary_reads_the_emulator_plan(lifecycle, tmp_path):
    path = tmp_path / MAIN_STACK / "plan.json"
    path.parent.mkdir()
    path.write_text(json.dumps(lifecycle["create_plan"]))
    summary = subprocess.run(
        [sys.executable, str(ROOT / ".github/scripts/plan_summary.py"), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = len(lifecycle["synth"].stack().resources())
    assert f"**{total} to add, 0 to change, 0 to destroy, 0 to replace**" in summary
    assert "WARNING" not in summary


@pytest.mark.parametrize("lifecycle", ["proxy_only"], indirect=True)  # the cycle that runs at 200 tenants
def test_growing_to_201_tenants_plans_only_additions_on_the_emulator(lifecycle):
    changes = [c for c in lifecycle["growth_plan"]["resource_changes"] if c["mode"] == "managed"]
    by_action: dict[str, list[dict]] = {}
    for change in changes:
        by_action.setdefault("/".join(change["change"]["actions"]), []).append(change)
    assert set(by_action) <= {"no-op", "create", "update"}, sorted(by_action)
    for change in by_action.get("update", []):
        drift = {a for a in changed_attributes(change) if (change["type"], a) not in ALLOWED_DRIFT}
        assert not drift or change["type"] in GROWTH_UPDATES, (change["address"], drift)
    created = {c["type"]: c for c in by_action["create"]}
    assert sum(c["type"] == "aws_db_proxy" for c in by_action["create"]) == 1
    secrets = [c["change"]["after"]["name"] for c in by_action["create"] if c["type"] == "aws_secretsmanager_secret"]
    assert secrets == [f"{PREFIX}/tenants/200"]
    assert "aws_db_proxy_default_target_group" in created


def test_every_emulator_gap_is_a_capability_documented_and_asked_for():
    """One key per gap ties the three together: the reason, the capability constructs ask, the README."""
    readme = (ROOT / "README.md").read_text()
    code = "\n".join(p.read_text() for p in (ROOT / "constructs_lib").glob("*.py"))
    assert set(EMULATOR_GAPS) == {field.name for field in fields(Capabilities)}
    for gap in EMULATOR_GAPS:
        assert f"- `{gap}`: {EMULATOR_GAPS[gap]}." in readme, gap
        assert f"capabilities.{gap}" in code, gap
    assert Capabilities.of_target("") == Capabilities()
    assert not any(vars(Capabilities.of_target("http://127.0.0.1:5000")).values())
