"""Deploy, re-plan and destroy for real, against moto's server on 127.0.0.1.

Two cycles: the README's walk-through as a user runs it (make and the cdktf CLI, the full stack at two
tenants), and the proxy-only stack at 200 tenants with Terraform directly (so that it can also plan
the growth to 201). Proves the configuration is accepted by the provider and the create / re-plan /
destroy cycle works at the API level. Nothing runs in it: no DNS, no function code, no database.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys
import urllib.request
from dataclasses import fields

import pytest

from constructs_lib import settings as app_settings
from constructs_lib.emulator import EMULATOR_GAPS, Capabilities
from constructs_lib.workflow.emulator import Emulator
from tests.support import terraform
from tests.support.emulator import start_emulator
from tests.support.paths import ROOT
from tests.support.synth import BOOTSTRAP_STACK, MAIN_STACK, Synth, synthesize
from tests.support.walkthrough import Walkthrough, commands

pytestmark = pytest.mark.terraform

QUIRKS = json.loads((ROOT / "tests" / "emulator_quirks.json").read_text())["quirks"]
ALLOWED_DRIFT = {(q["type"], q["attribute"]) for q in QUIRKS}
PREFIX = "emulated"
QUIRK_TYPES = {q["type"] for q in QUIRKS}
IN_PLACE = re.compile(r"# (\S+) \(.*\) will be updated in-place")
OTHER_CHANGE = re.compile(r"# \S+ \(.*\) (?:will be created|will be destroyed|must be replaced)")
GROWTH_SHARE = {"proxy_max_connections_percent": 45, "proxy_max_idle_connections_percent": 45}
# What growing by one tenant may change in place (besides creating the new shard), as tests/test_scale.py says.
GROWTH_UPDATES = {"aws_lambda_function", "aws_cloudwatch_dashboard", "aws_instance", "aws_launch_template"}
SECRET_PATTERNS = re.compile(r'"(password|secret_string|master_password)"\s*:\s*"[^"]+"|BEGIN [A-Z ]*PRIVATE KEY')


def apply_args():
    return ["-input=false", "-parallelism=20"]


def changed_attributes(change: dict) -> set[str]:
    before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
    return {key for key in set(before) | set(after) if before.get(key) != after.get(key)}


@pytest.fixture(scope="module")
def cycles(terraform_config, tmp_path_factory):
    """Both cycles at once: each spends most of its time waiting on Terraform and its own emulator."""
    started = {
        "proxy_only": proxy_only_cycle(tmp_path_factory.mktemp("emulated-proxy_only"), terraform_config),
        "walkthrough": readme_walkthrough(tmp_path_factory.mktemp("emulated-walkthrough")),
    }
    with concurrent.futures.ThreadPoolExecutor(len(started)) as workers:
        running = {name: workers.submit(next, cycle) for name, cycle in started.items()}
        records = {name: future.exception() or future.result() for name, future in running.items()}
    yield records
    for cycle in started.values():
        cycle.close()  # each cycle's own cleanup (its emulator)


@pytest.fixture(scope="module", params=["proxy_only", "walkthrough"])
def lifecycle(request, cycles):
    """One whole cycle; the record of each step is what the tests below read."""
    record = cycles[request.param]
    if isinstance(record, BaseException):
        raise record
    return record


def readme_walkthrough(work):
    """The README's walk-through as written (make, cdktf), with the full stack at 2 tenants."""
    walk = Walkthrough.prepare(work)
    outdir = walk.directory / "cdktf.out"
    record = {"variant": "walkthrough", "synth": Synth(outdir), "steps": []}

    def tf(*args):
        directory = outdir / "stacks" / MAIN_STACK
        return terraform.check(terraform.run(list(args), directory, walk.directory / ".terraform.rc", walk.env))

    def planned(step):
        record["create_plan"] = json.loads((outdir / "stacks" / MAIN_STACK / "plan.json").read_text())
        record["summary"] = (outdir / "plan-summary.md").read_text()

    def deployed(step):
        settings = app_settings.load([], walk.directory / "cdktf.json", walk.env)
        record["settings"], record["prefix"] = settings, settings.name_prefix
        record["emulator"] = Emulator(settings.emulator_endpoint, pid=0)
        record["outputs"] = json.loads(tf("output", "-json"))
        record["state"] = tf("state", "pull")

    def diffed(step):
        record["diff"] = step.output
        record["replan"] = json.loads(tf("show", "-json", "plan"))  # the plan `cdktf diff` leaves behind

    def destroyed(step):
        record["remaining"] = remaining_resources(record["emulator"], record["prefix"])
        record["bucket_versions"] = bucket_versions(record["emulator"], record["settings"].state_bucket_name)

    def state_destroyed(step):
        record["buckets"] = [b["Name"] for b in record["emulator"].client("s3").list_buckets()["Buckets"]]
        bootstrap_state = walk.directory / record["settings"].state_bootstrap_path.name
        record["bootstrap_state"] = json.loads(bootstrap_state.read_text())

    hooks = {
        "make plan": planned,
        "make deploy ": deployed,
        "make diff": diffed,
        "make destroy ": destroyed,
        "make destroy-state": state_destroyed,
    }
    try:
        record["steps"] = [step.line for step in walk.steps(commands((ROOT / "README.md").read_text()), hooks)]
        record["emulator_left"] = emulator_running(walk.port)
        yield record
    finally:
        walk.stop_emulator()


def proxy_only_cycle(work, terraform_config):
    """Terraform directly, at 200 tenants, so that it can show what growing to 201 would plan."""
    emulator = start_emulator(work)
    try:
        settings = {
            "name_prefix": PREFIX,
            "emulator_endpoint": emulator.url,
            "create_load_test_stack": False,
            "tenant_count": 200,
            **GROWTH_SHARE,
        }
        synth = synthesize(work / "out", settings)
        env = emulator.environment

        def tf(stack, *args, timeout=1200):
            return terraform.check(
                terraform.run(list(args), synth.stack(stack).directory, terraform_config, env, timeout=timeout)
            )

        record = {"variant": "proxy_only", "prefix": PREFIX, "synth": synth, "emulator": emulator}
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
        grown = synthesize(work / "grown", {**settings, "tenant_count": 201})
        grown_dir = grown.stack().directory
        for args in (["init", "-input=false"], ["plan", "-input=false", "-lock=false", "-out=grow.plan"]):
            terraform.check(terraform.run(args, grown_dir, terraform_config, env, timeout=1200))
        shown = terraform.run(["show", "-json", "grow.plan"], grown_dir, terraform_config, env)
        record["growth_plan"] = json.loads(terraform.check(shown))
        tf(MAIN_STACK, "destroy", "-auto-approve", *apply_args())
        record["remaining"] = remaining_resources(emulator, PREFIX)
        # The state bucket outlives the main stack on purpose (force_destroy = false), here too.
        yield record
    finally:
        emulator.stop()


def bucket_versions(emulator, bucket: str) -> int:
    answer = emulator.client("s3").list_object_versions(Bucket=bucket)
    return len(answer.get("Versions", [])) + len(answer.get("DeleteMarkers", []))


def emulator_running(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
    except OSError:
        return False
    return True


def remaining_resources(emulator, prefix: str) -> dict[str, list[str]]:
    """What the deployment's names still show in the emulator after destroy."""
    ec2, rds, lam = emulator.client("ec2"), emulator.client("rds"), emulator.client("lambda")
    tagged = [{"Name": "tag:deployment", "Values": [prefix]}]
    return {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged)["Vpcs"]],
        "clusters": [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]],
        "proxies": [p["DBProxyName"] for p in rds.describe_db_proxies()["DBProxies"]],
        "secrets": [
            s["Name"]
            for s in emulator.client("secretsmanager").list_secrets()["SecretList"]
            if s["Name"].startswith(prefix)
        ],
        "roles": [
            r["RoleName"] for r in emulator.client("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)
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
    prefix = lifecycle["prefix"]
    assert outputs["proxy_proxy_names"]["value"] == [f"{prefix}-proxy-0"]
    assert outputs["proxy_writer_endpoint"]["value"]
    assert outputs["proxy_access_function_name"]["value"] == f"{prefix}-proxy-access"
    if lifecycle["variant"] == "walkthrough":
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
        [sys.executable, "-m", "constructs_lib.workflow.plan_summary", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = len(lifecycle["synth"].stack().resources())
    assert f"**{total} to add, 0 to change, 0 to destroy, 0 to replace**" in summary
    assert "WARNING" not in summary


# ---- the README walk-through ------------------------------------------------------------------------

walkthrough = pytest.mark.parametrize("lifecycle", ["walkthrough"], indirect=True)


@walkthrough
def test_every_line_of_the_readme_walkthrough_ran_and_succeeded(lifecycle):
    lines = commands((ROOT / "README.md").read_text())
    assert lifecycle["steps"] == lines
    assert [line.split()[1] for line in lines if line.startswith("make ")] == [
        "emulator",
        "deploy-state",
        "plan",
        "deploy",
        "diff",
        "destroy",
        "destroy-state",
        "emulator-stop",
    ]


@walkthrough
def test_the_walkthrough_plan_summary_calls_out_iam_and_seeding(lifecycle):
    summary = lifecycle["summary"]
    total = len(lifecycle["synth"].stack().resources())
    assert "### Terraform plan: `state-bootstrap`\n\nNo changes." in summary
    assert f"**{total} to add, 0 to change, 0 to destroy, 0 to replace**" in summary
    roles = [r.address for r in lifecycle["synth"].stack().resources("aws_iam_role")]
    assert roles and all(f"- **add** `{address}` (role)" in summary for address in roles)
    invocations = [r.address for r in lifecycle["synth"].stack().resources("aws_lambda_invocation")]
    assert invocations and all(f"`{address}`: the seeding function runs on apply" in summary for address in invocations)


@walkthrough
def test_make_diff_after_deploy_shows_only_the_listed_quirks(lifecycle):
    diff = lifecycle["diff"]
    updated = IN_PLACE.findall(diff)
    assert updated, diff[-2000:]
    assert {address.split(".")[0] for address in updated} <= QUIRK_TYPES
    assert not OTHER_CHANGE.search(diff)
    assert f"0 to add, {len(updated)} to change, 0 to destroy" in diff


@walkthrough
def test_destroy_state_empties_the_versioned_bucket_then_destroys_everything_it_made(lifecycle):
    assert lifecycle["bucket_versions"] > 1  # every apply left a state version
    assert lifecycle["settings"].state_bucket_name not in lifecycle["buckets"]
    assert lifecycle["bootstrap_state"]["resources"] == []
    assert not lifecycle["emulator_left"]


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
