"""What a first real deploy needs that the emulator never checks: each defect found before it, fixed.

Items refer to the first-deploy issue; the preflight gate's own rules are tested in test_preflight.py,
the TLS verification per endpoint kind in test_tls.py.
"""

from __future__ import annotations

import datetime
import json
import ssl
import zipfile

import pytest

from constructs_lib import rds_ca
from constructs_lib.function_contract import RDS_CA_FILE
from constructs_lib.settings import Settings, SettingsError, from_sources
from constructs_lib.tenancy import MAX_TENANTS_PER_PROXY
from loadtest.local.tls import make_pki
from tests.support import terraform
from tests.support.emulator import start_emulator
from tests.support.synth import BOOTSTRAP_STACK, synthesize, user_data_script

TODAY = datetime.date(2026, 11, 27)


def settings(**overrides) -> Settings:
    return from_sources(
        {}, {}, {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in overrides.items()}, today=TODAY
    )


def refused(name: str, **overrides) -> str:
    with pytest.raises(SettingsError) as caught:
        settings(**overrides)
    message = str(caught.value)
    assert message.startswith(f"invalid setting {name}="), message
    return message


# ---- item 2: tenant counts that AWS limits refuse -----------------------------------------------


def test_settings_refuse_tenant_counts_whose_function_environment_exceeds_4_kb():
    quota = {"rds_proxy_quota": 1000, "proxy_max_connections_percent": 1, "proxy_max_idle_connections_percent": 1}
    base, shards = settings(**quota), 1
    while base.proxy_access_environment_bytes(shards + 1) <= 4096:
        shards += 1
    largest = shards * MAX_TENANTS_PER_PROXY
    assert settings(tenant_count=largest, **quota).tenant_count == largest
    message = refused("tenant_count", tenant_count=largest + 1, **quota)
    assert "above Lambda's 4,096" in message and f"at most {largest} tenants fit" in message
    longer_prefix = refused("tenant_count", tenant_count=largest, name_prefix="a" * 20, **quota)
    assert "at most" in longer_prefix  # longer names, fewer shards fit


# ---- item 9: the RDS CA bundle -------------------------------------------------------------------


def test_the_default_bundle_holds_the_regions_rds_root_and_is_packaged(default_synth):
    pem = rds_ca.default_bundle()
    rds_ca.check_bundle(pem, "us-east-1", TODAY)
    [code] = default_synth.stack().directory.glob("assets/*/*/code.zip")
    with zipfile.ZipFile(code) as archive:
        assert archive.read(RDS_CA_FILE) == pem


def test_a_bundle_without_the_regions_rds_root_stops_synth(tmp_path):
    system_bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    message = refused("rds_ca_bundle", rds_ca_bundle=system_bundle)
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in message
    other_region = make_pki(tmp_path / "pki", ca_name="Amazon RDS eu-west-1 Root CA RSA2048 G1", ca_unit="Amazon RDS")
    assert "us-east-1" in refused("rds_ca_bundle", rds_ca_bundle=other_region.ca_file)
    assert settings(rds_ca_bundle=other_region.ca_file, region="eu-west-1").rds_ca_bundle


def test_a_region_the_pinned_bundle_lacks_asks_for_aws_bundle():
    assert "no 'Amazon RDS mx-central-1 Root CA RSA2048 G1'" in refused("rds_ca_bundle", region="mx-central-1")


def test_without_the_pinned_package_synth_stops_with_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(rds_ca, "_DEFAULTS_MODULE", tmp_path / "missing.js")
    rds_ca.default_bundle.cache_clear()
    try:
        message = refused("rds_ca_bundle")
    finally:
        rds_ca.default_bundle.cache_clear()
    assert "run `make setup`" in message


# ---- item 10: reserved concurrency and the state bucket ------------------------------------------


def test_reserved_concurrency_must_leave_100_unreserved():
    assert settings(access_function_reserved_concurrency=450).access_function_reserved_concurrency == 450
    message = refused("access_function_reserved_concurrency", access_function_reserved_concurrency=451)
    assert "may reserve at most 900" in message
    assert settings(access_function_reserved_concurrency=900, create_load_test_stack=False)
    assert settings(access_function_reserved_concurrency=1000, lambda_concurrency_quota=3000)


def test_the_state_bucket_name_carries_the_account_id():
    assert settings(account_id="111122223333").state_bucket_name == "tenantdb-tfstate-111122223333-us-east-1"
    assert "should match pattern" in refused("account_id", account_id="12345")


@pytest.mark.terraform
@pytest.mark.parametrize(
    ("account_id", "outcome"),
    [("", "The account_id setting is empty"), ("111122223333", "not allowed"), ("123456789012", None)],
    ids=["no account", "another account", "this account"],
)
def test_planning_needs_the_account_the_stack_was_made_for(terraform_config, tmp_path, account_id, outcome):
    """On moto (account 123456789012), a real-AWS synth of the bootstrap stack: its guard and allowed accounts."""
    emulator = start_emulator(tmp_path)
    try:
        overrides = {"create_load_test_stack": False, "tenant_count": 1}
        synth = synthesize(tmp_path / "out", {**overrides, **({"account_id": account_id} if account_id else {})})
        directory = synth.stack(BOOTSTRAP_STACK).directory
        terraform.check(terraform.run(["init", "-input=false"], directory, terraform_config, emulator.environment))
        plan = terraform.run(["plan", "-input=false", "-lock=false"], directory, terraform_config, emulator.environment)
    finally:
        emulator.stop()
    if outcome is None:
        assert plan.returncode == 0, plan.stderr[-3000:]
    else:
        assert plan.returncode != 0 and outcome in plan.stderr, plan.stderr[-3000:]


# ---- item 11: engine versions --------------------------------------------------------------------


def test_an_expired_engine_pin_stops_synth():
    message = refused("aurora_engine_version", aurora_engine_version="8.0.mysql_aurora.3.08.2")
    assert "reached the end of standard support on 2026-08-31" in message
    assert settings().aurora_engine_version.startswith("8.0.mysql_aurora.3.10.")
    with pytest.raises(SettingsError, match="end of standard support on 2028-04-30"):
        from_sources({}, {}, {}, today=datetime.date(2028, 4, 30))


def test_instances_keep_their_pinned_version_and_ca(stack):
    for instance in stack.resources("aws_rds_cluster_instance"):
        assert instance.body["auto_minor_version_upgrade"] is False
        assert instance.body["ca_cert_identifier"] == "rds-ca-rsa2048-g1"


# ---- items 3-8: the stack -------------------------------------------------------------------------


def test_seeding_waits_for_the_vpc_endpoints_it_reaches_secrets_manager_through(stack):
    for invocation in stack.resources("aws_lambda_invocation"):
        side = invocation.path.split("/")[1]
        endpoints = [e.address for e in stack.under(side) if e.type == "aws_vpc_endpoint"]
        assert len(endpoints) == 2 and set(endpoints) <= set(invocation.body["depends_on"])


def test_spot_fleet_waits_for_the_spot_service_linked_roles_unless_they_exist(stack, tmp_path):
    linked = {r.body["aws_service_name"]: r.address for r in stack.resources("aws_iam_service_linked_role")}
    assert set(linked) == {"spotfleet.amazonaws.com", "spot.amazonaws.com"}
    [fleet] = stack.resources("aws_spot_fleet_request")
    assert set(linked.values()) <= set(fleet.body["depends_on"])
    existing = synthesize(tmp_path, {"tenant_count": 1, "create_spot_service_linked_roles": False}).stack()
    assert not existing.resources("aws_iam_service_linked_role")


def test_trust_conditions_only_where_the_service_documents_them(stack):
    conditioned = {}
    for role in stack.resources("aws_iam_role"):
        for statement in json.loads(role.body["assume_role_policy"])["Statement"]:
            service = statement["Principal"].get("Service")
            if service:
                conditioned[service] = "Condition" in statement
    assert conditioned.pop("vpc-flow-logs.amazonaws.com") is True
    assert conditioned and not any(conditioned.values()), conditioned


def test_destroy_leaves_no_account_setting_log_group_or_slow_interface_behind(stack):
    [account] = stack.resources("aws_api_gateway_account")
    assert account.body["reset_on_delete"] is True
    groups = {g.body["name"]: g for g in stack.resources("aws_cloudwatch_log_group")}
    for cluster in stack.resources("aws_rds_cluster"):
        name = cluster.body["cluster_identifier"]
        for export in cluster.body["enabled_cloudwatch_logs_exports"]:
            group = groups[f"/aws/rds/cluster/{name}/{export}"]
            assert group.body["retention_in_days"] > 0 and group.address in cluster.body["depends_on"]
    for proxy in stack.resources("aws_db_proxy"):
        group = groups[f"/aws/rds/proxy/{proxy.body['name']}"]
        assert group.body["retention_in_days"] > 0 and group.address in proxy.body["depends_on"]
    for function in stack.resources("aws_lambda_function"):
        assert function.body["replace_security_groups_on_destroy"] is True
    private = [s for s in stack.resources("aws_subnet") if s.body["tags"]["tier"] == "private"]
    assert private and all(s.body["timeouts"]["delete"] == "45m" for s in private)


def test_the_locust_ami_is_resolved_once_or_pinned(stack, tmp_path):
    [primary] = stack.resources("aws_instance")
    [template] = stack.resources("aws_launch_template")
    assert primary.body["ami"].startswith("${data.aws_ssm_parameter.")
    assert primary.body["lifecycle"]["ignore_changes"] == ["ami"]
    assert template.body["lifecycle"]["ignore_changes"] == ["image_id"]
    pinned = synthesize(tmp_path, {"tenant_count": 1, "locust_ami_id": "ami-0123456789abcdef0"}).stack()
    [primary] = pinned.resources("aws_instance")
    assert primary.body["ami"] == "ami-0123456789abcdef0" and "lifecycle" not in primary.body
    assert not pinned.data("aws_ssm_parameter")


def test_an_unattended_primary_gives_up_on_missing_workers(tmp_path):
    stack = synthesize(tmp_path, {"tenant_count": 1, "locust_unattended": True}).stack()
    [primary] = stack.resources("aws_instance")
    assert "LOCUST_EXPECT_WORKERS_MAX_WAIT=600" in user_data_script(stack, primary)


def test_the_documented_shard_bound_is_the_computed_one():
    def most_shards(**overrides) -> int:
        base, shards = settings(**overrides), 1
        while base.proxy_access_environment_bytes(shards + 1) <= 4096:
            shards += 1
        return shards

    default, long_prefix = most_shards(), most_shards(name_prefix="a" * 20)
    from constructs_lib.settings import allowed_values
    from tests.support.paths import ROOT

    assert f"({default} with the default name_prefix in us-east-1)" in allowed_values("tenant_count")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"at most {default} shards ({default * MAX_TENANTS_PER_PROXY:,} tenants) fit" in readme
    assert f"with a 20-character prefix {long_prefix}" in readme
