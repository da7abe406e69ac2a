"""Compose the stacks of the multi-tenant RDS Proxy load test from validated settings.

``python main.py [--set setting=value ...]`` (or ``cdktf synth``) writes ``cdktf.out/``.
"""

import sys
from pathlib import Path

from constructs_lib import settings as app_settings

try:
    settings = app_settings.load(sys.argv[1:], Path(__file__).with_name("cdktf.json"))
except app_settings.SettingsError as error:
    sys.exit(f"error: {error}")

from cdktf import App  # noqa: E402  (after validation: bad settings fail fast, before jsii starts)
from constructs import Construct  # noqa: E402

from constructs_lib.access_api import AccessApi, AccessApiProps  # noqa: E402
from constructs_lib.access_function import AccessFunction, AccessFunctionProps, AccessTarget  # noqa: E402
from constructs_lib.aurora_cluster import AuroraCluster, AuroraClusterProps  # noqa: E402
from constructs_lib.function_contract import AMAZON_ROOT_CA_FILE, RDS_CA_FILE  # noqa: E402
from constructs_lib.function_package import FunctionPackage, FunctionPackageProps  # noqa: E402
from constructs_lib.load_test import LoadTest, LoadTestProps, UnattendedRun  # noqa: E402
from constructs_lib.monitoring import Monitoring, MonitoringProps, SideMetrics  # noqa: E402
from constructs_lib.network import Network, NetworkProps  # noqa: E402
from constructs_lib.platform import AwsStack, add_outputs, tag_side  # noqa: E402
from constructs_lib.preflight import check_outdir  # noqa: E402
from constructs_lib.state import StateBootstrap, StateProps, use_remote_state  # noqa: E402
from constructs_lib.tenancy import (  # noqa: E402
    SHARD_PLACEHOLDER,
    access_function_name,
    all_tenants,
    shards,
    side_name,
    tenant_access_role_name,
    tenant_secret_prefix,
)
from constructs_lib.tenant_iam import TenantAccessRole, TenantAccessRoleProps  # noqa: E402
from constructs_lib.tenant_proxy import TenantProxy, TenantProxyProps  # noqa: E402
from constructs_lib.tenant_seeding import TenantSeeding, TenantSeedingProps  # noqa: E402

MAIN_STACK = "rds-proxy-load-test"
BOOTSTRAP_STACK = "state-bootstrap"
VPC_CIDRS = {"proxy": "10.0.0.0/16", "no_proxy": "10.1.0.0/16", "load_test": "10.2.0.0/16"}
PRIVATE_SERVICE_ENDPOINTS = ("secretsmanager", "sts")

app = App()
common = {
    "environment": settings.environment,
    "name_prefix": settings.name_prefix,
    "account_id": settings.account_id,
    "emulator_endpoint": settings.emulator_endpoint,
}
state = StateProps(
    bucket=settings.state_bucket_name,
    key=settings.state_object_key,
    region=settings.state_bucket_region,
    lock_table=settings.state_lock_table,
    emulator_endpoint=settings.emulator_endpoint,
)
StateBootstrap(AwsStack(app, BOOTSTRAP_STACK, region=settings.state_bucket_region, **common), "state", state)

stack = AwsStack(app, MAIN_STACK, region=settings.region, **common)
use_remote_state(stack, state)
zones = stack.availability_zones(settings.availability_zones)
tenants = all_tenants(settings.tenant_count)
shared = Construct(stack, "shared")
tag_side(shared, "shared")
package = FunctionPackage(
    shared, "functions", FunctionPackageProps(name=settings.name_prefix, rds_ca_pem=settings.rds_ca_pem())
)


def side(key: str) -> tuple[Construct, Network]:
    """A side of the architecture: its scope (tagged with the side) and its VPC."""
    scope = Construct(stack, key)
    tag_side(scope, key)
    name = side_name(settings.name_prefix, key)
    network = Network(
        scope,
        "network",
        NetworkProps(
            side=key, name=name, cidr_block=VPC_CIDRS[key], availability_zones=zones, flow_logs=settings.vpc_flow_logs
        ),
    )
    return scope, network


def database_side(key: str, *, iam_database_authentication: bool) -> tuple[Construct, Network, AuroraCluster]:
    scope, network = side(key)
    for service in PRIVATE_SERVICE_ENDPOINTS:
        network.add_interface_endpoint(service)
    cluster = AuroraCluster(
        scope,
        "aurora",
        AuroraClusterProps(
            side=key,
            name=network.props.name,
            network=network,
            engine_version=settings.aurora_engine_version,
            writer_instance_class=settings.writer_instance_class,
            reader_instance_class=settings.reader_instance_class,
            performance_insights_retention_days=settings.performance_insights_retention_days,
            iam_database_authentication=iam_database_authentication,
        ),
    )
    network.allow_through_endpoint(
        "secretsmanager",
        sid="ReadTheMasterSecret",
        actions=["secretsmanager:GetSecretValue"],
        resources=[cluster.master_secret_arn],
    )
    return scope, network, cluster


def allow_tenant_roles_through_sts_endpoint(key: str, network: Network, function_role_arn: str) -> None:
    """Only this side's tenant-access roles, assumed by its access function, pass its STS endpoint."""
    roles = stack.arn("iam", f"role/{tenant_access_role_name(settings.name_prefix, key, '*')}", regional=False)
    network.allow_through_endpoint(
        "sts",
        sid="AssumeThisSidesTenantAccessRoles",
        actions=["sts:AssumeRole", "sts:TagSession"],
        resources=[roles],
        principals=[function_role_arn],
    )


def seed(scope: Construct, network: Network, cluster: AuroraCluster, proxies: list[TenantProxy]) -> None:
    TenantSeeding(
        scope,
        "seeding",
        TenantSeedingProps(
            name=f"{network.props.name}-seeding",
            name_prefix=settings.name_prefix,
            network=network,
            cluster=cluster,
            package=package,
            tenants=tenants,
            proxies=proxies,
        ),
    )


def access_function(
    scope: Construct, key: str, network: Network, targets: list[AccessTarget], role_name: str, ca_file: str
) -> AccessFunction:
    return AccessFunction(
        scope,
        "access",
        AccessFunctionProps(
            name=access_function_name(settings.name_prefix, key),
            network=network,
            package=package,
            targets=targets,
            tenant_role_arn=stack.arn("iam", f"role/{role_name}", regional=False),
            ca_file=ca_file,
            tenant_count=settings.tenant_count,
            timeout_seconds=settings.access_function_timeout_seconds,
            memory_mb=settings.access_function_memory_mb,
            reserved_concurrency=settings.access_function_reserved_concurrency,
            max_tenant_connections=settings.access_function_max_connections,
        ),
    )


# Proxy side: the access function authenticates to the proxy with IAM; the proxy uses native passwords.
proxy_scope, proxy_network, proxy_cluster = database_side("proxy", iam_database_authentication=False)
proxies = [
    TenantProxy(
        proxy_scope,
        f"rds_proxy_{index}",
        TenantProxyProps(
            name_prefix=settings.name_prefix,
            network=proxy_network,
            cluster=proxy_cluster,
            tenants=shard,
            max_connections_percent=settings.proxy_max_connections_percent,
            max_idle_connections_percent=settings.proxy_max_idle_connections_percent,
        ),
    )
    for index, shard in enumerate(shards(tenants))
]
proxy_network.allow_through_endpoint(
    "secretsmanager",
    sid="FillAndReadTenantSecrets",
    actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
    resources=[stack.arn("secretsmanager", f"secret:{tenant_secret_prefix(settings.name_prefix)}*")],
)
seed(proxy_scope, proxy_network, proxy_cluster, proxies)
proxy_role_name = tenant_access_role_name(settings.name_prefix, "proxy", SHARD_PLACEHOLDER)
proxy_access = access_function(
    proxy_scope,
    "proxy",
    proxy_network,
    [AccessTarget(p.read_endpoint, p.resource_id) for p in proxies],
    proxy_role_name,
    AMAZON_ROOT_CA_FILE,
)
for index, proxy in enumerate(proxies):
    access_role = TenantAccessRole(
        proxy,
        "tenant_access",
        TenantAccessRoleProps(
            name=tenant_access_role_name(settings.name_prefix, "proxy", index),
            caller_role_arn=proxy_access.function.role.arn,
            shard=index,
        ),
    )
    proxy.grant_connect(access_role)
    access_role.grant_assume(proxy_access.function)
    proxy.allow_mysql_from("access", proxy_access.function.security_group, "access function to the proxy")
allow_tenant_roles_through_sts_endpoint("proxy", proxy_network, proxy_access.function.role.arn)
add_outputs(
    proxy_scope,
    "proxy",
    {
        "proxy_names": ([p.proxy.name for p in proxies], "proxy: RDS Proxy names, by shard"),
        "proxy_reader_endpoints": (
            [p.read_endpoint for p in proxies],
            "proxy: READ_ONLY endpoints, by shard",
        ),
        "tenant_secret_prefix": (
            tenant_secret_prefix(settings.name_prefix),
            "proxy: name prefix of the tenant secrets",
        ),
        "access_function_name": (proxy_access.function.function.function_name, "proxy: access function name"),
    },
)

if settings.create_load_test_stack:
    # No Proxy side: the access function connects to the Aurora readers directly with IAM tokens.
    no_proxy_scope, no_proxy_network, no_proxy_cluster = database_side("no_proxy", iam_database_authentication=True)
    seed(no_proxy_scope, no_proxy_network, no_proxy_cluster, proxies=[])
    no_proxy_role_name = tenant_access_role_name(settings.name_prefix, "no_proxy", SHARD_PLACEHOLDER)
    no_proxy_access = access_function(
        no_proxy_scope,
        "no_proxy",
        no_proxy_network,
        [AccessTarget(no_proxy_cluster.cluster.reader_endpoint, no_proxy_cluster.resource_id)],
        no_proxy_role_name,
        RDS_CA_FILE,
    )
    # One role per shard here too (all on the one cluster), so that no role admits another shard's tenants.
    for index in range(settings.shards):
        no_proxy_role = TenantAccessRole(
            no_proxy_cluster,
            f"tenant_access_{index}",
            TenantAccessRoleProps(
                name=tenant_access_role_name(settings.name_prefix, "no_proxy", index),
                caller_role_arn=no_proxy_access.function.role.arn,
                shard=index,
            ),
        )
        no_proxy_cluster.grant_connect(no_proxy_role)
        no_proxy_role.grant_assume(no_proxy_access.function)
    no_proxy_cluster.allow_mysql_from("access", no_proxy_access.function.security_group, "access function to Aurora")
    allow_tenant_roles_through_sts_endpoint("no_proxy", no_proxy_network, no_proxy_access.function.role.arn)
    add_outputs(
        no_proxy_scope,
        "no_proxy",
        {"access_function_name": (no_proxy_access.function.function.function_name, "no_proxy: access function name")},
    )

    load_test_scope, load_test_network = side("load_test")
    api = AccessApi(
        load_test_scope,
        "api",
        AccessApiProps(
            name=f"{settings.name_prefix}-access",
            endpoint_type=settings.api_endpoint_type,
            client_network=load_test_network,
            stages={"proxy_stage": proxy_access.function, "no_proxy_stage": no_proxy_access.function},
            throttling_rate_limit=settings.api_throttling_rate_limit,
            throttling_burst_limit=settings.api_throttling_burst_limit,
        ),
    )
    LoadTest(
        load_test_scope,
        "locust",
        LoadTestProps(
            name=f"{settings.name_prefix}-locust",
            network=load_test_network,
            api_url=api.base_url,
            locust_version=settings.locust_version,
            primary_instance_type=settings.locust_instance_type,
            worker_instance_types=settings.locust_worker_instance_types,
            worker_capacity=settings.locust_worker_capacity,
            tenant_count=settings.tenant_count,
            ui_cidr=settings.locust_ui_cidr,
            wait_seconds=(settings.locust_wait_min_seconds, settings.locust_wait_max_seconds),
            ami_id=settings.locust_ami_id,
            create_spot_service_linked_roles=settings.create_spot_service_linked_roles,
            unattended=UnattendedRun(
                users=settings.locust_users,
                spawn_rate=settings.locust_spawn_rate,
                run_time=settings.locust_run_time,
                max_failure_ratio=settings.locust_max_failure_ratio,
                max_p95_ms=settings.locust_max_p95_ms,
                expect_workers_max_wait_seconds=settings.locust_expect_workers_max_wait_seconds,
            )
            if settings.locust_unattended
            else None,
        ),
    )
    Monitoring(
        shared,
        "monitoring",
        MonitoringProps(
            name=f"{settings.name_prefix}-proxy-vs-no-proxy",
            api_name=api.api.name,
            sides=[
                SideMetrics(
                    label="proxy",
                    api_stage="proxy_stage",
                    function_name=proxy_access.function.function.function_name,
                    reader_instance_ids=[reader.identifier for reader in proxy_cluster.readers],
                    proxy_names=[proxy.proxy.name for proxy in proxies],
                ),
                SideMetrics(
                    label="no proxy",
                    api_stage="no_proxy_stage",
                    function_name=no_proxy_access.function.function.function_name,
                    reader_instance_ids=[reader.identifier for reader in no_proxy_cluster.readers],
                ),
            ],
        ),
    )

app.synth()
# AWS's documented limits and rules, checked on what was just written, before anything reaches AWS.
preflight = check_outdir(Path(app.outdir), settings.account_facts())
if preflight.findings:
    sys.exit(preflight.report())
