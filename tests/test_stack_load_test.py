"""The load test as synthesized: Locust primary and Spot Fleet workers, their bootstrap, the dashboard."""

from __future__ import annotations

import base64
import json

import pytest

from constructs_lib.load_test import BOOTSTRAP, LOCUSTFILE, REQUIREMENTS_LOCK
from constructs_lib.settings import Settings
from loadtest import cloudwatch_run
from tests.support.synth import synthesize, user_data_script

DEFAULTS = Settings()


def one(stack, type_):
    [resource] = stack.resources(type_)
    return resource


def test_primary_is_in_a_public_subnet_with_imdsv2_and_an_encrypted_root(stack):
    primary = one(stack, "aws_instance").body
    public = {
        s.ref("id") for s in stack.under("load_test") if s.type == "aws_subnet" and s.body["tags"]["tier"] == "public"
    }
    assert primary["subnet_id"] in public
    assert primary["metadata_options"]["http_tokens"] == "required"
    assert primary["root_block_device"]["encrypted"] is True
    assert primary["instance_type"] == DEFAULTS.locust_instance_type


def test_primary_user_data_installs_the_locked_locust_writes_the_locustfile_and_runs_a_systemd_service(stack):
    script = user_data_script(stack, one(stack, "aws_instance"))
    assert REQUIREMENTS_LOCK.read_text().strip() in script
    assert "--require-hashes --only-binary=:all:" in script
    assert f'locust --version | grep -q "{DEFAULTS.locust_version}"' in script
    assert base64.b64encode(LOCUSTFILE.read_bytes()).decode() in script
    assert "[Service]" in script and "Restart=on-failure" in script
    assert "systemctl enable --now locust.service" in script
    assert "set -euo pipefail" in script  # a failed install stops before the service exists
    assert "LOCUST_MODE_MASTER=true" in script
    [api] = stack.resources("aws_api_gateway_rest_api")
    assert f"LOCUST_HOST=https://{api.ref('id')}.execute-api." in script
    assert "LOCUST_WEB_LOGIN=true" in script  # the UI only behind the operator's login
    [secret] = [s for s in stack.resources("aws_secretsmanager_secret") if s.body["name"].endswith("/ui-password")]
    assert f"LOCUST_UI_SECRET_ID={secret.ref('arn')}" in script
    assert f"LOCUST_TENANT_COUNT={DEFAULTS.tenant_count}" in script


def test_bootstrap_template_leaves_nothing_for_terraform_to_interpolate():
    assert "${" not in BOOTSTRAP.read_text()


def test_workers_are_a_capacity_optimized_spot_fleet_over_types_and_zones(stack):
    fleet = one(stack, "aws_spot_fleet_request").body
    assert fleet["allocation_strategy"] == "capacityOptimized"
    assert fleet["target_capacity"] == DEFAULTS.locust_worker_capacity
    [config] = fleet["launch_template_config"]
    overrides = config["overrides"]
    private = {
        s.ref("id") for s in stack.under("load_test") if s.type == "aws_subnet" and s.body["tags"]["tier"] == "private"
    }
    assert {o["subnet_id"] for o in overrides} == private
    assert {o["instance_type"] for o in overrides} == set(DEFAULTS.locust_worker_instance_types)
    template = one(stack, "aws_launch_template")
    assert config["launch_template_specification"]["id"] == template.ref("id")
    assert template.body["metadata_options"]["http_tokens"] == "required"
    assert template.body["block_device_mappings"][0]["ebs"]["encrypted"] == "true"


def test_workers_run_locust_in_worker_mode_against_the_primary(stack):
    script = user_data_script(stack, one(stack, "aws_launch_template"))
    primary = one(stack, "aws_instance")
    assert "LOCUST_MODE_WORKER=true" in script
    assert f"LOCUST_MASTER_NODE_HOST={primary.ref('private_ip')}" in script
    assert REQUIREMENTS_LOCK.read_text().strip() in script and "LOCUST_WEB_LOGIN" not in script


def security_group_rules(stack, group_name):
    [group] = [g for g in stack.resources("aws_security_group") if g.body["name"] == group_name]
    ingress = [
        r.body
        for r in stack.resources("aws_vpc_security_group_ingress_rule")
        if r.body["security_group_id"] == group.ref("id")
    ]
    egress = [
        r.body
        for r in stack.resources("aws_vpc_security_group_egress_rule")
        if r.body["security_group_id"] == group.ref("id")
    ]
    return group, ingress, egress


def test_security_groups_open_only_the_master_port_and_no_ui_by_default(stack):
    _, primary_in, _ = security_group_rules(stack, "tenantdb-locust-primary")
    worker, _, worker_out = security_group_rules(stack, "tenantdb-locust-worker")
    assert [(r["from_port"], r.get("referenced_security_group_id")) for r in primary_in] == [(5557, worker.ref("id"))]
    assert sorted(r["from_port"] for r in worker_out) == [443, 5557]


@pytest.fixture(scope="module")
def unattended(tmp_path_factory):
    overrides = {
        "tenant_count": 2,
        "locust_ui_cidr": "203.0.113.7/32",
        "locust_unattended": True,
        "locust_worker_capacity": 5,
        "locust_users": 50,
        "locust_run_time": "5m",
    }
    return synthesize(tmp_path_factory.mktemp("unattended"), overrides).stack()


def test_ui_opens_to_the_configured_range_only(unattended):
    _, primary_in, _ = security_group_rules(unattended, "tenantdb-locust-primary")
    ui = [r for r in primary_in if r["from_port"] == 8089]
    assert [r["cidr_ipv4"] for r in ui] == ["203.0.113.7/32"]
    assert not any(r.get("cidr_ipv4") == "0.0.0.0/0" for r in primary_in)


def test_unattended_run_is_headless_with_thresholds_and_ships_reports_to_s3(unattended):
    script = user_data_script(unattended, one(unattended, "aws_instance"))
    for line in (
        "LOCUST_HEADLESS=true",
        "LOCUST_USERS=50",
        "LOCUST_RUN_TIME=5m",
        "LOCUST_EXPECT_WORKERS=5",
        "LOCUST_MAX_FAILURE_RATIO=",
        "LOCUST_MAX_P95_MS=",
        "Restart=no",
        # What `make report --from-bucket` reads: a per-path history, under reports/<host>/.
        "LOCUST_CSV_FULL_HISTORY=true",
        f"/{cloudwatch_run.REPORTS_PREFIX}%H/",
    ):
        assert line in script
    [bucket] = [b for b in unattended.resources("aws_s3_bucket") if "reports" in b.body.get("bucket_prefix", "")]
    assert (
        f"ExecStopPost=/usr/bin/aws s3 cp --recursive /var/lib/locust/reports s3://{bucket.ref('bucket')}/reports/"
        in script
    )
    [policy] = [p for p in unattended.resources("aws_iam_role_policy") if p.body["name"] == "write-reports"]
    [statement] = json.loads(policy.body["policy"])["Statement"]
    assert statement["Action"] == "s3:PutObject" and statement["Resource"] == f"{bucket.ref('arn')}/reports/*"


def test_dashboard_compares_both_sides_on_every_layer(stack):
    dashboard = one(stack, "aws_cloudwatch_dashboard")
    widgets = json.loads(dashboard.body["dashboard_body"])["widgets"]
    metrics = [m for w in widgets for m in w["properties"]["metrics"]]
    assert all(w["properties"]["period"] == 60 for w in widgets)
    names = {(m[0], m[1]) for m in metrics}
    for expected in [
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/RDS", "Queries"),
        ("AWS/RDS", "SelectLatency"),
        ("AWS/RDS", "ClientConnectionsReceived"),
        ("AWS/RDS", "DatabaseConnectionRequests"),
    ]:
        assert expected in names, expected
    stages = {m[5] for m in metrics if m[1] == "5XXError"}
    assert stages == {"proxy_stage", "no_proxy_stage"}
    functions = {m[3] for m in metrics if m[0] == "AWS/Lambda"}
    assert len(functions) == 2
    readers = {m[3] for m in metrics if m[1] == "CPUUtilization" and m[2] == "DBInstanceIdentifier"}
    assert len(readers) == 4
    proxies = {m[3] for m in metrics if m[2] == "ProxyName"}
    assert proxies == {p.ref("name") for p in stack.resources("aws_db_proxy")}


def test_dashboard_reader_graphs_compare_the_clusters_as_the_blog_does(stack):
    """One line per cluster's reader role (Proxy against No Proxy) for every reader graph, with network
    receive throughput; no query cache widget (Aurora MySQL 3 has no query cache)."""
    dashboard = one(stack, "aws_cloudwatch_dashboard")
    widgets = json.loads(dashboard.body["dashboard_body"])["widgets"]
    clusters = {c.ref("cluster_identifier") for c in stack.resources("aws_rds_cluster")}
    comparison = [w["properties"] for w in widgets if w["properties"]["title"].startswith("Readers: ")]
    assert {p["metrics"][0][1] for p in comparison} >= {
        "CPUUtilization",
        "DatabaseConnections",
        "SelectLatency",
        "NetworkReceiveThroughput",
    }
    for properties in comparison:
        lines = properties["metrics"]
        assert [(m[2], m[4], m[5]) for m in lines] == [("DBClusterIdentifier", "Role", "READER")] * 2
        assert {m[3] for m in lines} == clusters and {m[6]["label"] for m in lines} == {"proxy", "no proxy"}
    metric_names = {m[1] for w in widgets for m in w["properties"]["metrics"]}
    assert "ResultSetCacheHitRatio" not in metric_names


def test_outputs_name_the_locust_url_and_dashboard(stack):
    assert stack.outputs["load_test_locust_url"]["value"].endswith(":8089")
    assert stack.outputs["monitoring_dashboard_name"]
    assert stack.outputs["load_test_reports_bucket"]


def test_no_load_test_resources_without_the_load_test(proxy_only_synth):
    stack = proxy_only_synth.stack()
    for type_ in (
        "aws_instance",
        "aws_launch_template",
        "aws_spot_fleet_request",
        "aws_cloudwatch_dashboard",
        "aws_api_gateway_rest_api",
    ):
        assert not stack.resources(type_), type_
    assert not stack.under("load_test")
