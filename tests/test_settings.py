"""One typed settings object: sources, precedence, and a clear stop on every bad value."""

import datetime
import json

import pytest

from constructs_lib import aws_rules
from constructs_lib import settings as app_settings
from constructs_lib.function_contract import LAMBDA_RUNTIME_IDS, ConnectionPolicy
from constructs_lib.settings import Settings, SettingsError, from_sources, load
from constructs_lib.tenancy import MAX_TENANTS_PER_PROXY
from tests.support.paths import CDKTF_JSON, ROOT
from tests.support.synth import run_main

BAD_VALUES = [
    ("tenant_count", "0", "greater than or equal to 1"),
    ("tenant_count", "-3", "greater than or equal to 1"),
    ("tenant_count", "twelve", "valid integer"),
    ("tenant_count", str(MAX_TENANTS_PER_PROXY * 20 + 1), "above rds_proxy_quota=20"),
    ("proxy_max_connections_percent", "0", "greater than or equal to 1"),
    ("proxy_max_idle_connections_percent", "101", "less than or equal to 100"),
    ("rds_proxy_quota", "0", "greater than or equal to 1"),
    ("locust_worker_capacity", "25", "less than or equal to 20"),
    ("locust_worker_capacity", "1", "greater than or equal to 2"),
    ("locust_ui_cidr", "0.0.0.0/0", "opens to a /24 at most"),
    ("locust_ui_cidr", "203.0.112.0/23", "opens to a /24 at most"),
    ("locust_version", "2.46.0", "install Locust 2.47.0 from loadtest/requirements.lock"),
    ("locust_ui_cidr", "10.0.0.300/32", "not an IPv4 CIDR"),
    ("locust_ui_cidr", "10.0.0.1/24", "host bits"),
    ("writer_instance_class", "t3.medium", "should match pattern"),
    ("reader_instance_class", "db.r5.huge", "should match pattern"),
    ("locust_instance_type", "db.c5.large", "should match pattern"),
    ("aurora_engine_version", "latest", "should match pattern"),
    ("aurora_engine_version", "5.7.mysql_aurora.2.11.2", "should match pattern"),
    ("performance_insights_retention_days", "30", "Performance Insights keeps data"),
    ("name_prefix", "Tenant", "should match pattern"),
    ("name_prefix", "a" * 21, "at most 20 characters"),
    ("region", "mars-1", "should match pattern"),
    ("availability_zones", "us-east-1a", "exactly two distinct zones"),
    ("availability_zones", "us-east-1a,us-east-1a", "exactly two distinct zones"),
    ("availability_zones", "eu-west-1a,eu-west-1b", "not in region us-east-1"),
    ("api_endpoint_type", "EDGE", "'PRIVATE' or 'REGIONAL'"),
    ("environment", "STAGING", "'DEV', 'TEST' or 'PROD'"),
    ("create_load_test_stack", "maybe", "valid boolean"),
    ("locust_version", "latest", "should match pattern"),
    ("state_bucket", "Not_A_Bucket", "should match pattern"),
    ("rds_ca_bundle", "/nonexistent/rds-ca.pem", "no such file"),
    ("rds_ca_bundle", __file__, "cannot load it as PEM certificates"),
    ("access_connection_mode", "pooled", "'kept' or 'per_request'"),
    ("access_function_runtime", "ruby", "'python' or 'nodejs'"),
    ("proxy_side_max_kept_connections", "0", "greater than or equal to 1"),
    ("no_proxy_side_max_kept_connections", "201", "less than or equal to 200"),
    ("kept_connection_max_age_seconds", "901", "less than or equal to 900"),
    ("kept_connection_max_age_seconds", "30", "greater than or equal to 60"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_VALUES)
def test_bad_value_names_the_setting_and_what_it_allows(name, value, reason):
    with pytest.raises(SettingsError) as caught:
        from_sources({}, {}, {name: value})
    message = str(caught.value)
    assert message.startswith(f"invalid setting {name}=")
    assert reason in message
    assert f"Allowed: {app_settings.allowed_values(name)}" in message


def test_an_access_runtime_lambda_no_longer_creates_functions_on_is_refused_before_synth():
    """Lambda's schedule (aws_rules.LAMBDA_RUNTIME_SCHEDULE): valid the day before creation is blocked, then refused."""
    runtime = "nodejs"
    identifier = LAMBDA_RUNTIME_IDS[runtime]
    blocked = aws_rules.LAMBDA_RUNTIME_SCHEDULE[identifier].block_create
    assert from_sources({}, {}, {"access_function_runtime": runtime}, today=blocked - datetime.timedelta(days=1))
    with pytest.raises(SettingsError) as caught:
        from_sources({}, {}, {"access_function_runtime": runtime}, today=blocked)
    assert str(caught.value).startswith(f"invalid setting access_function_runtime='{runtime}'")
    assert f"Lambda refuses to create functions on {identifier}" in str(caught.value)


def test_unknown_setting_is_refused_from_every_source():
    with pytest.raises(SettingsError, match="unknown setting 'tenant_cuont'"):
        from_sources({"tenant_cuont": 5}, {}, {})
    with pytest.raises(SettingsError, match="unknown setting 'tenant_cuont'"):
        from_sources({}, {"RDSPROXY_TENANT_CUONT": "5"}, {})
    with pytest.raises(SettingsError, match="unknown setting 'tenant_cuont'"):
        from_sources({}, {}, {"tenant_cuont": "5"})


def test_command_line_beats_environment_beats_cdktf_json(tmp_path):
    cdktf_json = tmp_path / "cdktf.json"
    cdktf_json.write_text(json.dumps({"context": {"tenant_count": 10, "region": "eu-west-1"}}))
    only_json = load([], cdktf_json, environ={})
    assert (only_json.tenant_count, only_json.region) == (10, "eu-west-1")
    with_env = load([], cdktf_json, environ={"RDSPROXY_TENANT_COUNT": "20"})
    assert (with_env.tenant_count, with_env.region) == (20, "eu-west-1")
    with_cli = load(["--set", "tenant_count=30"], cdktf_json, environ={"RDSPROXY_TENANT_COUNT": "20"})
    assert with_cli.tenant_count == 30


def test_cdktf_json_context_holds_valid_settings():
    context = json.loads(CDKTF_JSON.read_text())["context"]
    settings = from_sources(context, {}, {})
    assert set(context) <= set(Settings.model_fields)
    assert settings.tenant_count == context["tenant_count"]


def test_defaults_are_safe():
    defaults = from_sources({}, {}, {})
    assert defaults.locust_ui_cidr == ""  # the UI is closed until a user names their own range
    assert defaults.tenant_count == 200
    assert defaults.create_load_test_stack is True
    assert 2 <= defaults.locust_worker_capacity <= 20


def test_derived_state_settings_follow_prefix_and_region():
    settings = from_sources({}, {}, {"name_prefix": "acme", "region": "eu-west-1"})
    assert settings.state_bucket_name == "acme-tfstate-eu-west-1"
    assert settings.state_object_key == "acme/terraform.tfstate"
    assert settings.state_bucket_region == "eu-west-1"


def test_zones_and_lists_parse_from_text():
    settings = from_sources({}, {"RDSPROXY_AVAILABILITY_ZONES": "us-east-1a, us-east-1c"}, {})
    assert settings.availability_zones == ("us-east-1a", "us-east-1c")


def test_tenant_limit_grows_with_the_proxy_quota():
    limit = MAX_TENANTS_PER_PROXY * 30
    share = {"proxy_max_connections_percent": "3", "proxy_max_idle_connections_percent": "3"}
    assert from_sources({}, {}, {"rds_proxy_quota": "30", "tenant_count": str(limit), **share}).tenant_count == limit
    with pytest.raises(SettingsError, match="need 31 RDS Proxies"):
        from_sources({}, {}, {"rds_proxy_quota": "30", "tenant_count": str(limit + 1), **share})


def test_proxies_sharing_a_cluster_must_split_its_connections():
    with pytest.raises(SettingsError, match="2 proxies share one cluster, so each may use at most 50%"):
        from_sources({}, {}, {"tenant_count": str(MAX_TENANTS_PER_PROXY + 1)})
    fits = {"tenant_count": str(MAX_TENANTS_PER_PROXY + 1), "proxy_max_connections_percent": "50"}
    assert from_sources({}, {}, fits).proxy_max_connections_percent == 50
    with pytest.raises(SettingsError, match="invalid setting proxy_max_idle_connections_percent=60"):
        from_sources({}, {}, {"proxy_max_connections_percent": "50", "proxy_max_idle_connections_percent": "60"})


def test_set_flag_needs_a_pair():
    with pytest.raises(SettingsError, match="--set expects SETTING=VALUE"):
        load(["--set", "tenant_count"], CDKTF_JSON, environ={})


def test_readme_documents_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = json.dumps(list(default) if isinstance(default, tuple) else default)
        assert f"| `{name}` | `{shown}` |" in readme, f"README settings table lacks {name} with default {shown}"


@pytest.mark.parametrize(
    ("name", "value"),
    [("tenant_count", "0"), ("locust_worker_capacity", "25"), ("locust_ui_cidr", "0.0.0.0/0")],
)
def test_main_stops_before_synth_on_bad_setting(tmp_path, name, value):
    outdir = tmp_path / "out"
    result = run_main(outdir, {name: value})
    assert result.returncode != 0
    assert f"invalid setting {name}=" in result.stderr
    assert "Traceback" not in result.stderr
    assert not outdir.exists()


def test_main_reads_settings_from_environment(tmp_path):
    outdir = tmp_path / "out"
    result = run_main(outdir, env={"RDSPROXY_LOCUST_WORKER_CAPACITY": "99"})
    assert result.returncode != 0
    assert "invalid setting locust_worker_capacity='99'" in result.stderr
    assert not outdir.exists()


def test_each_side_gets_its_own_connection_policy_into_its_function():
    chosen = from_sources(
        {},
        {},
        {
            "access_connection_mode": "per_request",
            "proxy_side_max_kept_connections": "300",
            "no_proxy_side_max_kept_connections": "2",
            "kept_connection_max_age_seconds": "600",
        },
    )
    proxy, no_proxy = chosen.connection_policy("proxy"), chosen.connection_policy("no_proxy")
    assert (proxy.mode, proxy.max_kept, proxy.max_age_seconds) == ("per_request", 300, 600)
    assert (no_proxy.mode, no_proxy.max_kept, no_proxy.max_age_seconds) == ("per_request", 2, 600)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "pooled"}, "connection mode is one of kept, per_request"),
        ({"max_kept": 0}, "max_kept must be positive"),
        ({"max_age_seconds": 901}, "an IAM token's lifetime"),
        ({"max_age_seconds": 0}, "an IAM token's lifetime"),
    ],
)
def test_a_connection_policy_refuses_nonsense(changes, message):
    with pytest.raises(ValueError, match=message):
        ConnectionPolicy(**changes)
