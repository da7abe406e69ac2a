"""The deployment workflow's pieces: approval, provider lock, plan review, state teardown, emulator, settings.

The README's walk-through runs them end to end with the cdktf CLI (tests/test_emulated_lifecycle.py);
these feed each piece the inputs that walk-through does not: a binary plan, a missing one, a state
that still has resources, a bucket name typed wrong, a shell with no terminal, a misspelt setting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from constructs_lib.settings import SettingsError, from_sources
from constructs_lib.workflow import emulator, plan_summary, state_teardown
from constructs_lib.workflow import terraform as tf_workflow
from loadtest.local.processes import free_port
from tests.support.paths import QUIET_TOOLS_ENV, ROOT
from tests.support.synth import BOOTSTRAP_STACK, MAIN_STACK


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("RDSPROXY_")} | QUIET_TOOLS_ENV | (env or {})
    return subprocess.run(
        ["make", "-s", *args], cwd=ROOT, env=child, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )


# ---- approval --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["deploy-state", "deploy", "destroy"])
def test_without_a_terminal_deploy_and_destroy_stop_at_once_and_say_how_to_approve(target):
    result = make(target)
    assert result.returncode == 2
    assert f"make {target} AUTO_APPROVE=1" in result.stdout
    assert "Synthesizing" not in result.stdout + result.stderr  # stopped before cdktf ran


def test_auto_approve_reaches_cdktf_as_its_flag():
    dry = make("-n", "deploy", "AUTO_APPROVE=1")
    assert dry.returncode == 0
    [deploy] = [line for line in dry.stdout.splitlines() if " deploy rds-proxy-load-test" in line]
    assert "--auto-approve" in deploy and "--skip-provider-lock" in deploy and ".terraform.rc" in deploy
    assert "--auto-approve" not in make("-n", "diff").stdout


# ---- provider source and lock file ------------------------------------------------------------------------


def test_the_lock_file_is_made_from_the_provider_source_and_installed_in_every_stack(tmp_path, default_synth):
    config = tf_workflow.cli_config(tmp_path / "terraform.rc")
    lock = tmp_path / "lock.hcl"
    tf_workflow.write_lock_file(lock, config)
    text = lock.read_text()
    assert f'version     = "{tf_workflow.AWS_PROVIDER_VERSION}"' in text and '"h1:' in text
    required = default_synth.stack().doc["terraform"]["required_providers"]["aws"]["version"]
    assert required == tf_workflow.AWS_PROVIDER_VERSION
    outdir = tmp_path / "out"
    for stack in (BOOTSTRAP_STACK, MAIN_STACK):
        (outdir / "stacks" / stack).mkdir(parents=True)
        (outdir / "stacks" / stack / "cdk.tf.json").write_text("{}")
    assert [p.name for p in tf_workflow.install_lock(outdir, lock)] == sorted([BOOTSTRAP_STACK, MAIN_STACK])
    assert all((outdir / "stacks" / s / ".terraform.lock.hcl").read_text() == text for s in (MAIN_STACK,))


def test_install_lock_says_what_to_run_when_something_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="make stacks"):
        tf_workflow.install_lock(tmp_path, tmp_path / "missing.hcl")
    (tmp_path / "lock.hcl").write_text("")
    with pytest.raises(FileNotFoundError, match="synthesize first"):
        tf_workflow.install_lock(tmp_path, tmp_path / "lock.hcl")


# ---- plan review ------------------------------------------------------------------------------------------


def summary_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "constructs_lib.workflow.plan_summary", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_a_binary_plan_a_missing_plan_or_none_get_a_clear_error(tmp_path):
    binary = tmp_path / "plan"
    binary.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    for args, expected in (
        ([str(binary)], "binary Terraform plan"),
        ([str(tmp_path / "nope.json")], "no such file"),
        ([], "no plan given"),
    ):
        result = summary_cli(*args)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "usage:" not in result.stderr and "Traceback" not in result.stderr


def change(address, actions, before=None, after=None):
    type_ = address.split(".")[0]
    body = {"actions": actions, "before": before, "after": after, "after_unknown": {}}
    return {"address": address, "type": type_, "mode": "managed", "change": body}


def test_the_summary_names_every_iam_change_reseeding_and_every_address():
    plan = {
        "resource_changes": [
            change(
                "aws_iam_role.tenant_access",
                ["update"],
                {"assume_role_policy": "old", "name": "r"},
                {"assume_role_policy": "new", "name": "r"},
            ),
            change("aws_iam_role_policy.connect", ["create"]),
            change("aws_vpc_endpoint_policy.sts", ["update"], {"policy": "a"}, {"policy": "b"}),
            change("aws_lambda_permission.invoke", ["delete"]),
            change("aws_lambda_invocation.seed_shard_0", ["delete", "create"]),
            change("aws_subnet.a", ["create"]),
        ]
    }
    text = plan_summary.summarize(plan, MAIN_STACK)
    iam = text.split("#### IAM and resource policies: 4 changes", 1)[1].split("####", 1)[0]
    assert "- **change** `aws_iam_role.tenant_access` (role): trust policy" in iam
    assert "- **add** `aws_iam_role_policy.connect` (role policy)" in iam
    assert "- **change** `aws_vpc_endpoint_policy.sts` (what passes a VPC endpoint): policy" in iam
    assert "- **destroy** `aws_lambda_permission.invoke` (who may invoke a function)" in iam
    assert "aws_subnet" not in iam
    assert "- **replace** `aws_lambda_invocation.seed_shard_0`: the seeding function runs on apply" in text
    every = text.split("<details>", 1)[1]
    assert all(f"`{c['address']}`" in every for c in plan["resource_changes"])


# ---- tearing down the state --------------------------------------------------------------------------------


@pytest.fixture
def state_bucket():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="tenantdb-tfstate-us-east-1")
        s3.put_bucket_versioning(Bucket="tenantdb-tfstate-us-east-1", VersioningConfiguration={"Status": "Enabled"})
        yield state_teardown.StateBucket(s3, "tenantdb-tfstate-us-east-1", "tenantdb/terraform.tfstate")


def put_state(bucket, instances: int) -> None:
    resources = [{"mode": "managed", "type": "aws_vpc", "instances": [{}] * instances}] if instances else []
    bucket.client.put_object(Bucket=bucket.name, Key=bucket.key, Body=json.dumps({"resources": resources}))


def test_teardown_refuses_while_the_main_stack_has_resources(state_bucket):
    put_state(state_bucket, 3)
    with pytest.raises(state_teardown.Refusal, match="still records 3 resources.*make destroy"):
        state_teardown.prepare(state_bucket, confirm=state_bucket.name)
    assert state_bucket.versions()  # nothing deleted


def test_teardown_refuses_while_a_run_holds_the_lock(state_bucket):
    put_state(state_bucket, 0)
    state_bucket.client.put_object(Bucket=state_bucket.name, Key=f"{state_bucket.key}.tflock", Body=b"{}")
    with pytest.raises(state_teardown.Refusal, match="holds the lock"):
        state_teardown.prepare(state_bucket, confirm=state_bucket.name)


def test_teardown_empties_only_when_the_bucket_is_named(state_bucket):
    put_state(state_bucket, 5)
    put_state(state_bucket, 0)  # destroyed: two versions of the state
    with pytest.raises(state_teardown.Refusal, match=f"CONFIRM={state_bucket.name}"):
        state_teardown.prepare(state_bucket, confirm="")
    with pytest.raises(state_teardown.Refusal, match="not the bucket's"):
        state_teardown.prepare(state_bucket, confirm="", ask=lambda prompt: "tenantdb", interactive=True)
    assert len(state_bucket.versions()) == 2
    done = state_teardown.prepare(state_bucket, confirm="", ask=lambda prompt: state_bucket.name, interactive=True)
    assert "2 object versions" in done and state_bucket.versions() == []
    state_bucket.client.delete_bucket(Bucket=state_bucket.name)  # an empty versioned bucket can go
    assert "does not exist" in state_teardown.prepare(state_bucket, confirm="")


# ---- the background emulator -----------------------------------------------------------------------------


def test_make_emulator_starts_once_removes_stale_emulated_state_and_stops(tmp_path, monkeypatch):
    stale = tmp_path / "terraform.state-bootstrap.emulator.tfstate"
    stale.write_text("{}")
    monkeypatch.setenv("RDSPROXY_STATE_BOOTSTRAP_FILE", str(stale))
    run_dir, outdir = tmp_path / "run", tmp_path / "out"
    records = {}
    for stack, url in ((MAIN_STACK, "http://127.0.0.1:5077"), (BOOTSTRAP_STACK, "https://s3.amazonaws.com")):
        records[stack] = outdir / "stacks" / stack / ".terraform" / "terraform.tfstate"
        records[stack].parent.mkdir(parents=True)
        records[stack].write_text(json.dumps({"backend": {"type": "s3", "config": {"endpoints": {"s3": url}}}}))
    started, removed = emulator.start_background(free_port(), run_dir, outdir)
    try:
        assert removed == [stale, records[MAIN_STACK]] and not stale.exists()
        assert records[BOOTSTRAP_STACK].exists()  # a real backend is never touched
        again, removed_again = emulator.start_background(free_port(), run_dir, outdir)
        assert (again.pid, again.url, removed_again) == (started.pid, started.url, [])
        started.client("s3").create_bucket(Bucket="emulator-answers")  # answers, with the stand-in credentials
    finally:
        emulator.stop_background(run_dir)
    assert emulator.running(run_dir) is None


# ---- settings errors ---------------------------------------------------------------------------------------


def refused(environ=None, **overrides) -> str:
    with pytest.raises(SettingsError) as caught:
        from_sources({}, environ or {}, {k: str(v) for k, v in overrides.items()})
    return str(caught.value)


def test_a_misspelt_setting_gets_the_closest_name_and_where_it_came_from():
    message = refused({"RDSPROXY_TENANT_COUNTT": "3"})
    assert message == "unknown setting 'tenant_countt' (from RDSPROXY_TENANT_COUNTT): did you mean tenant_count?"
    assert "known settings" in refused(zzz="1")  # nothing close: the whole list


@pytest.mark.parametrize("name", ["region", "state_region"])
def test_a_region_no_partition_has_is_refused(name):
    message = refused(**{name: "us-east-9"})
    assert f"invalid setting {name}='us-east-9'" in message and "did you mean us-east-" in message
    assert from_sources({}, {}, {name: "eu-central-2"})  # a real, newer region


def test_make_synth_prints_a_settings_error_once_and_stops_before_cdktf():
    result = make("synth", env={"RDSPROXY_TENANT_COUNTT": "3"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("did you mean tenant_count?") == 1, output
    assert "Synthesizing" not in output


def test_emulated_runs_keep_their_own_bootstrap_state(tmp_path):
    real = from_sources({}, {}, {})
    emulated = from_sources({}, {}, {"emulator_endpoint": "http://127.0.0.1:5000"})
    assert real.state_bootstrap_path.name == "terraform.state-bootstrap.tfstate"
    assert emulated.state_bootstrap_path.name == "terraform.state-bootstrap.emulator.tfstate"
    chosen = from_sources({}, {}, {"state_bootstrap_file": str(tmp_path / "x.tfstate")})
    assert chosen.state_bootstrap_path == tmp_path / "x.tfstate"
    assert "state_bootstrap_file" in refused(state_bootstrap_file="state.json")


def test_the_tests_terraform_runs_never_use_the_projects_bootstrap_state(default_synth):
    backend = default_synth.stack(BOOTSTRAP_STACK).doc["terraform"]["backend"]["local"]["path"]
    assert backend == str(default_synth.outdir / "terraform.state-bootstrap.tfstate")


def test_the_rehearsal_needs_mariadb_but_not_the_security_scanner():
    database = make("-pn", "rehearse").stdout
    [rule] = [line for line in database.splitlines() if line.startswith("rehearse:")]
    assert "mariadb" in rule.split() and "test-tools" not in rule.split()
